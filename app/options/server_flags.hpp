#pragma once

#include "actors/node_config.hpp"
#include "app/options/options.hpp"

namespace mm {

/// What `mm-server --help` says before the flags.
extern const char* const server_description;

/// Declares every mm-server flag (docs/api.md) on `cl`, bound to `cfg`,
/// whose values are the defaults, and the checks across flags.
void declare_server_flags(command_line& cl, node_config& cfg);

} // namespace mm

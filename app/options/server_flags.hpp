#pragma once

#include "actors/node_config.hpp"
#include "app/options/options.hpp"
#include "service/grpc_settings.hpp"

namespace mm {

/// What `mm-server --help` says before the flags.
extern const char* const server_description;

/// What mm-server's flags set: the node's tunables and its gRPC server's.
struct server_config : node_config, grpc_settings {};

/// Declares every mm-server flag (docs/api.md) on `cl`, bound to `cfg`,
/// whose values are the defaults, and the checks across flags.
void declare_server_flags(command_line& cl, server_config& cfg);

} // namespace mm

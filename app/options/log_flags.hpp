#pragma once

#include <string>

#include "app/options/options.hpp"

namespace mm {

/// Declares `--log-level` (trace|debug|info|warn|error) and `--log-format`
/// (text|json) on `cl`, bound to `level` and `format`, in the help group
/// `group`: the one declaration of every binary that logs
/// (docs/operations.md).
void declare_log_flags(command_line& cl, std::string& level,
                       std::string& format, const std::string& group);

/// Configures the logging layer (logging/log.hpp) with the values of the
/// flags above, which their declaration checked.
void configure_logging(const std::string& level, const std::string& format);

} // namespace mm

#include "app/options/log_flags.hpp"

#include "logging/log.hpp"

namespace mm {

void declare_log_flags(command_line& cl, std::string& level,
                       std::string& format, const std::string& group) {
  cl.add("--log-level", level, "the lowest level logged")
    ->check(one_of({"trace", "debug", "info", "warn", "error"}))
    ->type_name("trace|debug|info|warn|error")
    ->group(group);
  cl.add("--log-format", format, "text, or json: one JSON object per line")
    ->check(one_of({"text", "json"}))
    ->type_name("text|json")
    ->group(group);
}

void configure_logging(const std::string& level, const std::string& format) {
  auto lowest = log::level::info;
  auto fmt = log::format::text;
  log::parse_level(level, lowest);
  log::parse_format(format, fmt);
  log::configure(lowest, fmt);
}

} // namespace mm

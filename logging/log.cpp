#include "logging/log.hpp"

#include <atomic>
#include <memory>
#include <mutex>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace mm::log {

namespace {

std::atomic<level> lowest_level{level::info};
std::atomic<format> line_format{format::text};

spdlog::level::level_enum to_spdlog(level x) {
  switch (x) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warn: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

void set_pattern(spdlog::logger& lg, format fmt) {
  // Time and level from spdlog (UTC, milliseconds); the rest is ours.
  auto pattern = fmt == format::json
                   ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                   : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
  lg.set_formatter(std::make_unique<spdlog::pattern_formatter>(
    pattern, spdlog::pattern_time_type::utc, "\n"));
}

/// The process' logger: stderr, flushed after every line (a crash loses
/// nothing, and lines of several threads never interleave).
spdlog::logger& logger() {
  static spdlog::logger* instance = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    // Never destroyed: threads may log until the process ends.
    auto* lg = new spdlog::logger("marketmonitor", std::move(sink));
    lg->set_level(spdlog::level::trace);
    lg->flush_on(spdlog::level::trace);
    set_pattern(*lg, line_format.load());
    return lg;
  }();
  return *instance;
}

std::mutex configure_mtx;

void json_escape(std::string& out, std::string_view x) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : x) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

/// A text value with blanks or quotes is quoted.
void text_value(std::string& out, const std::string& x) {
  if (!x.empty() && x.find_first_of(" \"=") == std::string::npos) {
    out += x;
    return;
  }
  json_escape(out, x);
}

} // namespace

bool parse_level(std::string_view x, level& out) {
  static constexpr std::pair<const char*, level> names[] = {
    {"trace", level::trace}, {"debug", level::debug}, {"info", level::info},
    {"warn", level::warn},   {"error", level::error},
  };
  for (auto& [name, lvl] : names) {
    if (x == name) {
      out = lvl;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view x, format& out) {
  if (x == "text")
    out = format::text;
  else if (x == "json")
    out = format::json;
  else
    return false;
  return true;
}

void configure(level lowest, format fmt) {
  std::lock_guard<std::mutex> guard{configure_mtx};
  lowest_level = lowest;
  line_format = fmt;
  set_pattern(logger(), fmt);
}

bool enabled(level x) {
  return x >= lowest_level.load(std::memory_order_relaxed);
}

std::string render(format fmt, std::string_view component,
                   std::string_view message, fields xs) {
  std::string out;
  if (fmt == format::json) {
    out += "\"component\":";
    json_escape(out, component);
    out += ",\"message\":";
    json_escape(out, message);
    for (auto& x : xs) {
      out += ',';
      json_escape(out, x.key);
      out += ':';
      if (x.raw)
        out += x.value;
      else
        json_escape(out, x.value);
    }
    return out;
  }
  out.append(component);
  out += ": ";
  out.append(message);
  for (auto& x : xs) {
    out += ' ';
    out += x.key;
    out += '=';
    text_value(out, x.value);
  }
  return out;
}

void write(level lvl, std::string_view component, std::string_view message,
           fields xs) {
  if (!enabled(lvl))
    return;
  auto line = render(line_format.load(std::memory_order_relaxed), component,
                     message, xs);
  logger().log(to_spdlog(lvl), spdlog::string_view_t{line.data(), line.size()});
}

} // namespace mm::log

#pragma once

// The one logging layer of marketmonitor, on spdlog: every line a process
// writes to stderr goes through it, as text or as one JSON object per line
// (time, level, component, message and fields such as session, ticker,
// peer). The ready line on stdout is not a log line and does not.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace mm::log {

enum class level : uint8_t { trace, debug, info, warn, error };

enum class format : uint8_t { text, json };

/// Parses "trace", "debug", "info", "warn" or "error"; false if `x` is none.
bool parse_level(std::string_view x, level& out);

/// Parses "text" or "json"; false if `x` is neither.
bool parse_format(std::string_view x, format& out);

/// Sets the lowest level written and the format. Until the first call:
/// info and text.
void configure(level lowest, format fmt);

/// Whether a line at `x` would be written.
bool enabled(level x);

/// One key and value of a log line. Numbers and booleans stay unquoted in
/// JSON.
struct field {
  field(const char* k, std::string v) : key(k), value(std::move(v)) {
    // nop
  }
  field(const char* k, const char* v) : key(k), value(v) {
    // nop
  }
  field(const char* k, bool v)
    : key(k), value(v ? "true" : "false"), raw(true) {
    // nop
  }
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
  field(const char* k, T v) : key(k), value(std::to_string(v)), raw(true) {
    // nop
  }

  const char* key;
  std::string value;
  /// Written as is in JSON (a number or a boolean).
  bool raw = false;
};

using fields = std::initializer_list<field>;

/// Writes one line from `component` at `lvl`, if enabled.
void write(level lvl, std::string_view component, std::string_view message,
           fields xs = {});

inline void trace(std::string_view c, std::string_view m, fields xs = {}) {
  write(level::trace, c, m, xs);
}
inline void debug(std::string_view c, std::string_view m, fields xs = {}) {
  write(level::debug, c, m, xs);
}
inline void info(std::string_view c, std::string_view m, fields xs = {}) {
  write(level::info, c, m, xs);
}
inline void warn(std::string_view c, std::string_view m, fields xs = {}) {
  write(level::warn, c, m, xs);
}
inline void error(std::string_view c, std::string_view m, fields xs = {}) {
  write(level::error, c, m, xs);
}

/// Renders the part of a line after time and level (what `write` hands to
/// spdlog), for tests: `component: message key=value ...` as text,
/// `"component":...,"message":...,"key":value` as JSON.
std::string render(format fmt, std::string_view component,
                   std::string_view message, fields xs);

} // namespace mm::log

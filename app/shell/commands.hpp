#pragma once

// The commands of mm-shell and their parser: no network, no terminal, so
// the parsing rules are tested on their own (tests/unit/shell_test.cpp).

#include <cstdint>
#include <string>
#include <vector>

namespace mm::shell {

enum class command_kind {
  stats,
  sessions,
  session,
  tickers,
  ticker,
  actors,
  nodes,
  kill,
  watch,
  help,
  quit,
};

/// One parsed command line.
struct command {
  command_kind kind = command_kind::help;
  /// `sessions --ticker T`, `ticker T`.
  std::string ticker;
  /// `sessions --limit N`; 0: all.
  uint32_t limit = 0;
  /// `session ID`, `kill ID`.
  std::string id;
  /// `kill ID [REASON]`; the words after the id, joined by blanks.
  std::string reason;
  /// `watch T...`.
  std::vector<std::string> tickers;
  /// `watch --count N T...`: stop after N ticks; 0: until Ctrl-C.
  uint64_t count = 0;
};

/// One command as `help` lists it.
struct command_doc {
  const char* name;
  const char* usage;
  const char* summary;
};

/// Every command, in the order `help` lists them.
const std::vector<command_doc>& command_docs();

/// Splits `line` into words at blanks; single or double quotes group words
/// ("a b" is one word). Returns an empty string on success, or what is
/// wrong (an unterminated quote).
std::string split_words(const std::string& line,
                        std::vector<std::string>& words);

/// Parses `line` into `out`. Returns an empty string on success, otherwise
/// what is wrong, in words (e.g. `unknown command "foo" (try "help")`). An
/// empty line is an error too; callers skip blank lines themselves.
std::string parse_command(const std::string& line, command& out);

} // namespace mm::shell

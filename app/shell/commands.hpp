#pragma once

// The commands of mm-shell and their parser: the parser knows no network and
// no terminal, so its rules are tested on their own
// (tests/unit/shell_test.cpp). The rows of the command table are in
// app/shell/table.cpp.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

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

class client; // app/shell/client.hpp

/// One row of the command table: how `help` lists the command, how many
/// words may follow its name, how they are read and what running it does.
struct command_spec {
  const char* name;
  const char* usage;
  const char* summary;
  command_kind kind;
  /// How many words may follow the name (options and their values count).
  size_t min_args;
  size_t max_args;
  /// What is wrong when fewer than `min_args` words follow the name.
  const char* missing;
  /// Reads the words after the name into `out` (its `kind` is set); fails
  /// with `bad_argument` (see below) and what is wrong. Null: nothing to read.
  caf::error (*parse)(const std::vector<std::string>& args, command& out);
  /// Runs the command over a connected client: the request to the node and
  /// the rendering of its answer. Returns whether it succeeded.
  bool (*run)(client& c, const command& cmd);
};

/// Every command, in the order `help` lists them (app/shell/table.cpp).
const std::vector<command_spec>& command_table();

/// The command named `name` (`exit` is `quit`), or null.
const command_spec* find_command(const std::string& name);

/// The command of kind `kind` (every kind has one).
const command_spec& command_of(command_kind kind);

/// What is wrong with a command line, in words (`text_of`): an
/// `admin_ec::bad_argument` error, the code the node gives a bad argument.
caf::error bad_argument(std::string what);

/// Splits `line` into `words` at blanks; single or double quotes group words
/// ("a b" is one word). Fails with `bad_argument` on an unterminated quote,
/// leaving the words before it in `words` (completion uses them).
caf::error split_words(const std::string& line,
                       std::vector<std::string>& words);

/// Parses `line`, or fails with `bad_argument` and what is wrong, in words
/// (e.g. `unknown command "foo" (try "help")`). An empty line is an error
/// too; callers skip blank lines themselves.
caf::expected<command> parse_command(const std::string& line);

} // namespace mm::shell

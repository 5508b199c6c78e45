#pragma once

// The command-line layer of every marketmonitor binary, on CLI11.
//
// A main declares each flag once, bound to the variable that holds its
// default (node_config for mm-server), and gets from that one declaration:
// the `--help` line (with the default read from the variable), a
// `--config FILE` key of the same name, and an `MM_*` environment variable
// (`--grpc-listen` -> `MM_GRPC_LISTEN`). Precedence: command line >
// environment > config file > default. Bad values end the program with one
// line naming the flag and exit status 2; `--help` exits 0.
//
// Declaring flags (mm-bench and friends do the same):
//
//   mm::command_line cl{"mm-foo", "What mm-foo does."};
//   cl.add("--rate", opts.rate, "ticks per second")          // any type
//     ->check(mm::decimal(0, 1e7, true));                     // validator
//   cl.add("--sessions", opts.sessions, "client sessions")
//     ->check(mm::whole_number(1))->type_name("N");
//   cl.add_address("--redis", opts.redis, 1, "Redis server"); // host_port
//   cl.add_switch("--json", opts.json, "prints JSON");
//   cl.secret(cl.add("--token", opts.token, "..."),  // env/--config only
//             "--token-file F");
//   cl.check([&] {                       // checks across flags, after all
//     if (opts.a > opts.b)
//       mm::bad_flag("--a: " + ... + " is above --b");
//   });
//   if (auto status = cl.parse(argc, argv))
//     return *status;                    // --help (0) or a bad flag (2)
//
// `add` returns CLI11's `CLI::Option*`: `->group("Cluster")`,
// `->type_name("N")`, `->default_str(...)` and every other CLI11 setting
// work on it. A flag whose value needs conversion (two fields from one
// string) uses `cl.app().add_option_function<std::string>(...)` and then
// `cl.bind_environment(option)`.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/host_port.hpp"

namespace mm {

/// The exit status of every binary on a bad flag.
inline constexpr int bad_flags_status = 2;

/// Ends parsing with `what` (one line that names the flag) as the error.
[[noreturn]] void bad_flag(std::string what);

/// The environment variable of a flag: `--grpc-listen` -> `MM_GRPC_LISTEN`.
std::string environment_name(const std::string& flag);

/// A whole number from `min` to `max`; the default top fits an `int`, which
/// is what gRPC takes for its settings.
CLI::Validator whole_number(uint64_t min, uint64_t max = 2147483647);

/// A finite decimal number from `min` (or above it, if `above_min`) to
/// `max`.
CLI::Validator decimal(double min, double max, bool above_min = false);

/// `HOST:PORT` (see host_port) with a port of at least `min_port`.
CLI::Validator host_port_check(unsigned min_port);

/// One of `names`, as in `--role standalone|hub|edge`.
CLI::Validator one_of(std::vector<std::string> names);

/// A file that can be read now.
CLI::Validator readable_file();

/// The flags of one binary.
class command_line {
public:
  /// `name` starts every error line; `description` heads `--help`.
  command_line(std::string name, std::string description);

  command_line(const command_line&) = delete;
  command_line& operator=(const command_line&) = delete;

  /// Declares `--flag VALUE` bound to `value`, whose current value is the
  /// default that `--help` shows.
  template <class T>
  CLI::Option* add(const std::string& flag, T& value, std::string help) {
    auto opt = app_.add_option(flag, value, std::move(help));
    opt->capture_default_str();
    bind_environment(opt);
    return opt;
  }

  /// Declares `--flag HOST:PORT` bound to `value` (ports from `min_port`).
  CLI::Option* add_address(const std::string& flag, host_port& value,
                           unsigned min_port, std::string help);

  /// Declares `--flag` without a value (`--flag=false` turns it off).
  CLI::Option* add_switch(const std::string& flag, bool& value,
                          std::string help);

  /// Gives `opt` its `MM_*` environment variable.
  CLI::Option* bind_environment(CLI::Option* opt);

  /// Refuses `opt` on the command line, where `ps` shows every user its
  /// value: there it is a bad flag whose message points to `instead` (e.g.
  /// `--admin-secret-file F`), its environment variable and its `--config`
  /// key, which still set it.
  CLI::Option* secret(CLI::Option* opt, const std::string& instead);

  /// Runs `fn` after every flag is set; it calls bad_flag on a conflict.
  void check(std::function<void()> fn);

  /// Parses the command line, the environment and `--config`. Returns the
  /// exit status if the program should end now: 0 after `--help` (printed
  /// to `out`), 2 on a bad flag (one line to `err`).
  std::optional<int> parse(int argc, const char* const* argv, std::ostream& out,
                           std::ostream& err);
  std::optional<int> parse(int argc, const char* const* argv);

  /// The CLI11 application, for settings this class does not wrap.
  CLI::App& app() noexcept {
    return app_;
  }

private:
  std::string name_;
  CLI::App app_;
  std::vector<std::function<void()>> checks_;
  /// Per flag refused on the command line: the flag, and what to say.
  std::vector<std::pair<std::string, std::string>> secrets_;
};

} // namespace mm

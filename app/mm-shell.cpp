// mm-shell: the actor inspection shell. Joins a node's admin endpoint as a
// CAF node of its own, asks the node's inspector actor and renders what it
// says. This file is the front end: flags, the terminal (line editing,
// history, completion) and scripts; the connection, the command table and
// the rendering live in app/shell/.

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include <editline/readline.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>

#include "actors/node.hpp"
#include "app/options/options.hpp"
#include "app/shell/client.hpp"
#include "app/shell/commands.hpp"
#include "app/shell/render.hpp"
#include "app/shell/signals.hpp"
#include "logging/log.hpp"

namespace {

using mm::shell::client;

constexpr const char* description =
  R"(The actor inspection shell of marketmonitor: looks inside a running node
(mm-server --admin-listen) and answers from its live actors. Without -c it
reads commands interactively (line editing, history, tab completion of
commands, session ids and tickers); with stdin not a terminal it reads one
command per line.)";

/// What the flags give: the connection, and the one command of -c.
struct options : mm::shell::client_options {
  std::string command;
  bool has_command = false;
};

// --- interactive mode --------------------------------------------------------

client* completion_client = nullptr;
std::vector<std::string> completion_candidates;

char* next_candidate(const char* text, int state) {
  static size_t index = 0;
  if (state == 0)
    index = 0;
  auto len = std::strlen(text);
  while (index < completion_candidates.size()) {
    auto& x = completion_candidates[index++];
    if (x.compare(0, len, text) == 0)
      return strdup(x.c_str());
  }
  return nullptr;
}

/// Completes the command name, then what fits its argument: session ids
/// (asked from the node) after `session` / `kill`, tickers after `ticker`,
/// `watch` and `--ticker`.
char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;
  std::vector<std::string> words;
  // An unterminated quote is still being typed: its error is of no use
  // here, the words before it are.
  static_cast<void>(
    mm::shell::split_words(std::string(rl_line_buffer, start), words));
  completion_candidates.clear();
  if (words.empty()) {
    for (auto& spec : mm::shell::command_table())
      completion_candidates.emplace_back(spec.name);
  } else if ((words[0] == "session" || words[0] == "kill")
             && words.size() == 1) {
    completion_candidates = completion_client->session_ids();
  } else if (words[0] == "ticker" && words.size() == 1) {
    completion_candidates = completion_client->tickers();
  } else if (words[0] == "watch") {
    completion_candidates = completion_client->tickers();
    completion_candidates.emplace_back("--count");
  } else if (words[0] == "sessions") {
    if (words.back() == "--ticker")
      completion_candidates = completion_client->tickers();
    else if (words.back() != "--limit")
      completion_candidates = {"--ticker", "--limit"};
  }
  return rl_completion_matches(text, next_candidate);
}

std::string history_file() {
  if (auto x = std::getenv("MM_SHELL_HISTORY"))
    return x;
  if (auto home = std::getenv("HOME"))
    return std::string{home} + "/.mm_shell_history";
  return {};
}

int interactive(client& c, const options& opts) {
  completion_client = &c;
  rl_catch_signals = 0; // our handler, not libedit's
  rl_attempted_completion_function = complete;
  using_history();
  stifle_history(1000);
  auto hist = history_file();
  if (!hist.empty())
    read_history(hist.c_str());
  std::cout << "connected to " << opts.address
            << "; \"help\" lists the commands, Ctrl-D leaves" << std::endl;
  auto prompt = "mm " + opts.address + "> ";
  int status = 0;
  namespace sh = mm::shell;
  while (!c.quit_requested() && !sh::terminated) {
    sh::interrupted = false;
    sh::interruptible = true;
    char* raw = readline(prompt.c_str());
    sh::interruptible = false;
    if (raw == nullptr) {
      if (sh::interrupted && !sh::terminated) {
        std::cout << std::endl;
        continue; // Ctrl-C at the prompt: a fresh line
      }
      std::cout << std::endl;
      break; // Ctrl-D
    }
    std::string line = raw;
    std::free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    add_history(line.c_str());
    status = c.run(line) ? 0 : 1;
  }
  if (!hist.empty())
    write_history(hist.c_str());
  return status;
}

/// Commands from a pipe or file: one per line, blank lines and `#`
/// comments skipped; the exit status is 1 if any failed.
int script(client& c) {
  int status = 0;
  std::string line;
  while (!c.quit_requested() && std::getline(std::cin, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#')
      continue;
    if (!c.run(line))
      status = 1;
  }
  return status;
}

// --- flags -------------------------------------------------------------------

/// Reads the secret from the first line of `path`.
std::string read_secret(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  if (!in || !std::getline(in, line))
    mm::bad_flag("--secret-file: cannot read \"" + path + "\"");
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

/// Declares the flags of mm-shell over `opts`.
void declare_flags(mm::command_line& cl, options& opts, uint32_t& timeout_ms) {
  auto& app = cl.app();
  cl.add_address("--connect", opts.admin, 1, "the node's admin endpoint");
  auto command = cl.add("-c,--command", opts.command, "runs COMMAND and exits")
                   ->type_name("COMMAND");
  cl.add_switch("--json", opts.json,
                "one JSON document per command on stdout (`watch`: one\n"
                "JSON object per tick, one per line)");
  // Declared before --secret-file, whose callback then wins over the
  // environment's secret.
  cl.secret(cl.add("--secret", opts.secret,
                   "the node's admin secret: from MM_ADMIN_SECRET or "
                   "`secret` in\n--config only (on the command line ps "
                   "shows it: refused)")
              ->envname("MM_ADMIN_SECRET"),
            "--secret-file F")
    ->type_name("S");
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--secret-file",
        [&opts](const std::string& val) { opts.secret = read_secret(val); },
        "reads the secret from the first line of F")
      ->type_name("F"));
  for (auto [flag, member, help] :
       {std::tuple{"--tls-cert", &options::tls_cert,
                   "TLS to the admin endpoint: our certificate (PEM)"},
        std::tuple{"--tls-key", &options::tls_key, "... its private key"},
        std::tuple{"--tls-ca", &options::tls_ca,
                   "... the CA that signed the node's certificate"}})
    cl.add(flag, opts.*member, help)->type_name("F");
  cl.add("--timeout-ms", timeout_ms, "how long to wait for an answer")
    ->check(mm::whole_number(1, 3600000))
    ->type_name("N");
  app.footer(app.get_footer()
             + "\n\nCommands (`help` in the shell lists them too):\n"
             + mm::shell::help_text());
  cl.check([&opts, command] {
    auto tls = !opts.tls_cert.empty() + !opts.tls_key.empty()
               + !opts.tls_ca.empty();
    if (tls != 0 && tls != 3)
      mm::bad_flag("--tls-cert, --tls-key and --tls-ca go together: give "
                   "all three or none");
    opts.address = opts.admin.to_string();
    opts.has_command = command->count() > 0;
  });
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  auto timeout_ms = static_cast<uint32_t>(opts.timeout.count());
  mm::command_line flags{"mm-shell", description};
  declare_flags(flags, opts, timeout_ms);
  if (auto status = flags.parse(argc, argv))
    return *status;
  opts.timeout = std::chrono::milliseconds{timeout_ms};
  // CAF's threads never take SIGINT / SIGTERM: they must interrupt the main
  // thread's read (prompt) or poll (watch).
  mm::shell::block_signals();
  if (auto err = mm::shell::make_wake_pipe(); !err.empty()) {
    mm::log::error("mm-shell", "cannot make the wake pipe", {{"error", err}});
    return 1;
  }
  caf::actor_system_config cfg;
  mm::configure(cfg);
  if (!opts.tls_cert.empty()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = opts.tls_cert;
    cfg.openssl_key = opts.tls_key;
    cfg.openssl_cafile = opts.tls_ca;
  }
  caf::actor_system sys{cfg};
  mm::shell::catch_signals();
  int status = 1;
  {
    client c{sys, opts};
    if (c.connect()) {
      if (opts.has_command)
        status = c.run(opts.command) ? 0 : 1;
      else if (isatty(STDIN_FILENO))
        status = interactive(c, opts);
      else
        status = script(c);
    }
  }
  // Quitting drops the connection; the node forgets our actors then.
  return status;
}

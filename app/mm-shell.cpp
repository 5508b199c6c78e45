// mm-shell: the actor inspection shell. Joins a node's admin endpoint as a
// CAF node of its own, asks the node's inspector actor and renders what it
// says; `watch` subscribes an actor of this process at the node's
// broadcasters. Parsing and rendering live in app/shell/.

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <editline/readline.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "app/options/options.hpp"
#include "app/shell/commands.hpp"
#include "app/shell/render.hpp"
#include "logging/log.hpp"

namespace {

constexpr const char* description =
  R"(The actor inspection shell of marketmonitor: looks inside a running node
(mm-server --admin-listen) and answers from its live actors. Without -c it
reads commands interactively (line editing, history, tab completion of
commands, session ids and tickers); with stdin not a terminal it reads one
command per line.)";

// --- signals -----------------------------------------------------------------

/// Where SIGINT / SIGTERM are noticed: only the main thread takes them, and
/// the handler only sets flags and wakes the main thread through a pipe.
std::atomic<bool> interrupted{false};
std::atomic<bool> terminated{false};
/// While false, a signal ends the process at once (e.g. a slow request).
std::atomic<bool> interruptible{false};
int wake_pipe[2] = {-1, -1};

void on_signal(int sig) {
  if (!interruptible.load())
    _exit(128 + sig);
  (sig == SIGINT ? interrupted : terminated).store(true);
  char c = 1;
  [[maybe_unused]] auto n = write(wake_pipe[1], &c, 1);
}

void drain_wake_pipe() {
  char buf[64];
  while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
    ; // nop
}

// --- the connection to a node ------------------------------------------------

struct options {
  /// The node's admin endpoint, and as text for the prompt and messages.
  mm::host_port admin{"127.0.0.1", 50052};
  std::string address;
  std::string command;
  bool has_command = false;
  bool json = false;
  std::string secret;
  /// TLS to an admin endpoint that has it (mm-server with --cluster-cert):
  /// our certificate and key, and the CA that signed the node's.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::chrono::milliseconds timeout{30000};
};

class client {
public:
  client(caf::actor_system& sys, const options& opts)
    : sys_(sys), opts_(opts), self_(sys) {
    // nop
  }

  /// Connects and checks the secret; prints what went wrong and returns
  /// false on failure.
  bool connect() {
    if (auto what = probe(); !what.empty()) {
      fail("cannot reach node at " + opts_.address + ": " + what);
      return false;
    }
    auto node =
      opts_.tls_cert.empty()
        ? sys_.middleman().remote_actor<mm::inspector_actor>(opts_.admin.host,
                                                             opts_.admin.port)
        : caf::openssl::remote_actor<mm::inspector_actor>(sys_,
                                                          opts_.admin.host,
                                                          opts_.admin.port);
    if (!node) {
      fail("cannot reach node at " + opts_.address + ": "
           + connect_error(node.error()));
      return false;
    }
    node_ = std::move(*node);
    bool ok = false;
    self_->request(node_, opts_.timeout, mm::hello_atom::value, opts_.secret)
      .receive([&](const std::string&) { ok = true; },
               [&](const caf::error& err) {
                 auto what = describe(err);
                 if (mm::code_of(err) == mm::ec::none
                     && err.category() == caf::atom("mm_admin")
                     && static_cast<mm::admin_ec>(err.code())
                          == mm::admin_ec::secret_rejected)
                   what += " by " + opts_.address
                           + " (give the node's secret with --secret-file F "
                             "or MM_ADMIN_SECRET)";
                 fail(what);
               });
    return ok;
  }

  /// Runs one command line; returns whether it succeeded.
  bool run(const std::string& line) {
    mm::shell::command cmd;
    if (auto err = mm::shell::parse_command(line, cmd); !err.empty()) {
      fail(err);
      return false;
    }
    return run(cmd);
  }

  bool quit_requested() const {
    return quit_;
  }

  /// Session ids and tickers for tab completion (empty on any error).
  std::vector<std::string> session_ids() {
    std::vector<std::string> result;
    self_
      ->request(node_, std::chrono::seconds(2), mm::sessions_atom::value,
                opts_.secret, std::string{}, uint32_t{1000})
      .receive(
        [&](const std::vector<mm::session_info>& xs) {
          for (auto& x : xs)
            result.push_back(x.id);
        },
        [](const caf::error&) {});
    return result;
  }

  std::vector<std::string> tickers() {
    std::vector<std::string> result;
    self_
      ->request(node_, std::chrono::seconds(2), mm::tickers_atom::value,
                opts_.secret)
      .receive(
        [&](const std::vector<mm::ticker_info>& xs) {
          for (auto& x : xs)
            result.push_back(x.ticker);
        },
        [](const caf::error&) {});
    return result;
  }

private:
  template <class... Ts>
  auto ask(Ts&&... xs) {
    return self_->request(node_, opts_.timeout, std::forward<Ts>(xs)...);
  }

  /// Asks the node and prints its answer with `text` or `json`; returns
  /// whether it answered.
  template <class Result, class... Ts>
  bool show(std::string (*text)(const Result&),
            std::string (*json)(const Result&), Ts&&... request) {
    bool ok = false;
    ask(std::forward<Ts>(request)...)
      .receive(
        [&](const Result& x) {
          out(opts_.json ? json(x) : text(x));
          ok = true;
        },
        [&](const caf::error& err) { fail(describe(err)); });
    return ok;
  }

  bool run(const mm::shell::command& cmd) {
    using mm::shell::command_kind;
    namespace sh = mm::shell;
    bool ok = false;
    auto on_error = [&](const caf::error& err) { fail(describe(err)); };
    auto json = opts_.json;
    switch (cmd.kind) {
      case command_kind::help:
        out(json ? sh::help_json() : sh::help_text());
        return true;
      case command_kind::quit:
        if (json)
          out("{\"quit\":true}\n");
        quit_ = true;
        return true;
      case command_kind::stats:
        return show(sh::stats_text, sh::stats_json, mm::stats_atom::value,
                    opts_.secret);
      case command_kind::sessions:
        return show(sh::sessions_text, sh::sessions_json,
                    mm::sessions_atom::value, opts_.secret, cmd.ticker,
                    cmd.limit);
      case command_kind::session:
        return show(sh::session_text, sh::session_json, mm::session_atom::value,
                    opts_.secret, cmd.id);
      case command_kind::tickers:
        return show(sh::tickers_text, sh::tickers_json, mm::tickers_atom::value,
                    opts_.secret);
      case command_kind::ticker:
        return show(sh::ticker_text, sh::ticker_json, mm::ticker_atom::value,
                    opts_.secret, cmd.ticker);
      case command_kind::actors:
        return show(sh::actors_text, sh::actors_json, mm::actors_atom::value,
                    opts_.secret);
      case command_kind::nodes:
        return show(sh::nodes_text, sh::nodes_json, mm::nodes_atom::value,
                    opts_.secret);
      case command_kind::kill:
        ask(mm::kill_atom::value, opts_.secret, cmd.id, cmd.reason)
          .receive(
            [&]() {
              out(json ? sh::kill_json(cmd.id, cmd.reason)
                       : sh::kill_text(cmd.id, cmd.reason));
              ok = true;
            },
            on_error);
        return ok;
      case command_kind::watch: return watch(cmd);
    }
    return false;
  }

  /// Subscribes a local actor at the node's broadcasters and prints what it
  /// receives until Ctrl-C, `--count` ticks or the loss of the node. The
  /// broadcasters monitor that actor: its exit (or this process's death)
  /// ends the subscriptions on the node.
  bool watch(const mm::shell::command& cmd) {
    struct shared {
      std::atomic<bool> done{false};
      std::atomic<bool> lost{false};
    };
    auto st = std::make_shared<shared>();
    auto json = opts_.json;
    auto limit = cmd.count;
    auto node = node_;
    auto wake = [] {
      char c = 1;
      [[maybe_unused]] auto n = write(wake_pipe[1], &c, 1);
    };
    auto watcher =
      sys_.spawn([=](caf::event_based_actor* self) -> caf::behavior {
        // Watches the node's inspector: its loss ends the watch.
        self->monitor(node);
        self->set_down_handler([=](const caf::down_msg&) {
          st->lost = true;
          wake();
          self->quit();
        });
        auto seen = std::make_shared<uint64_t>(0);
        return {
          [=](const mm::price_update& u) {
            if (limit > 0 && *seen >= limit)
              return;
            auto text = json ? mm::shell::tick_json(u)
                             : mm::shell::tick_text(u);
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
            if (limit > 0 && ++*seen >= limit) {
              st->done = true;
              wake();
            }
          },
        };
      });
    drain_wake_pipe();
    interrupted = false;
    interruptible = true;
    bool ok = false;
    ask(mm::watch_atom::value, opts_.secret, cmd.tickers, watcher)
      .receive(
        [&](const std::vector<std::string>& tickers) {
          ok = true;
          if (!json) {
            std::string names;
            for (auto& t : tickers)
              names += (names.empty() ? "" : ", ") + t;
            std::cerr << "watching " << names
                      << (limit > 0 ? "" : " (Ctrl-C to stop)") << std::endl;
          }
        },
        [&](const caf::error& err) { fail(describe(err)); });
    while (ok && !st->done && !st->lost && !interrupted && !terminated) {
      pollfd pfd{wake_pipe[0], POLLIN, 0};
      if (poll(&pfd, 1, -1) > 0)
        drain_wake_pipe();
    }
    interruptible = false;
    if (interrupted && !json && isatty(STDOUT_FILENO))
      out("\n"); // after the terminal's ^C
    self_->send_exit(watcher, caf::exit_reason::user_shutdown);
    self_->wait_for(watcher);
    if (ok && st->lost && !st->done) {
      fail("lost the connection to node at " + opts_.address);
      return false;
    }
    return ok;
  }

  /// Connects once without CAF and reads the first bytes: CAF 0.17 crashes
  /// (SIGSEGV) on a peer that does not speak BASP, e.g. the gRPC port, so
  /// the shell checks for a BASP server handshake first (an all-zero
  /// operation/flags word and a small protocol version). Returns what is
  /// wrong, or an empty string.
  std::string probe() const {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    auto port = std::to_string(opts_.admin.port);
    if (auto rc = getaddrinfo(opts_.admin.host.c_str(), port.c_str(), &hints,
                              &res);
        rc != 0)
      return gai_strerror(rc);
    std::string result = "no address";
    for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
      if (fd < 0)
        continue;
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        result = std::strerror(errno);
        for (auto& c : result)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        close(fd);
        continue;
      }
      unsigned char hdr[16];
      size_t got = 0;
      while (got < sizeof(hdr)) {
        auto n = ::read(fd, hdr + got, sizeof(hdr) - got);
        if (n <= 0)
          break;
        got += static_cast<size_t>(n);
      }
      close(fd);
      bool basp = got == sizeof(hdr);
      for (size_t i : {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14})
        basp = basp && hdr[i] == 0;
      freeaddrinfo(res);
      if (!basp)
        return "the endpoint is not an mm-server admin endpoint (it does "
               "not speak CAF's BASP; is it the gRPC port?)";
      return {};
    }
    freeaddrinfo(res);
    return result;
  }

  /// CAF says "system_error(cannot_connect_to_node, ...)" and connects on
  /// its own thread, so errno is lost: one plain connect finds the cause.
  std::string connect_error(const caf::error& err) const {
    // CAF compares the inspector's interface with ours when connecting.
    if (err == caf::sec::unexpected_actor_messaging_interface)
      return "the node's inspector has another interface than this "
             "mm-shell expects (mm-shell and mm-server of different "
             "versions?)";
    if (err != caf::sec::cannot_connect_to_node)
      return sys_.render(err);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    auto port = std::to_string(opts_.admin.port);
    if (auto rc = getaddrinfo(opts_.admin.host.c_str(), port.c_str(), &hints,
                              &res);
        rc != 0)
      return gai_strerror(rc);
    std::string result = "connection failed";
    for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
      if (fd < 0)
        continue;
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        result = std::strerror(errno);
      else
        result = "the endpoint accepted TCP but did not speak CAF's BASP "
                 "(is it the admin endpoint?)";
      close(fd);
    }
    freeaddrinfo(res);
    for (auto& c : result)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
  }

  std::string describe(const caf::error& err) const {
    if (err.category() == caf::atom("mm")
        || err.category() == caf::atom("mm_admin")) {
      auto text = mm::text_of(err);
      if (!text.empty())
        return text;
    }
    if (err == caf::sec::request_timeout)
      return "the node at " + opts_.address + " did not answer within "
             + std::to_string(opts_.timeout.count()) + " ms";
    if (err == caf::sec::request_receiver_down
        || err.category() == caf::atom("exit"))
      return "lost the connection to node at " + opts_.address;
    return sys_.render(err);
  }

  void out(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }

  void fail(const std::string& what) {
    if (opts_.json)
      out(mm::shell::error_json(what));
    std::cerr << "mm-shell: " << what << std::endl;
  }

  caf::actor_system& sys_;
  const options& opts_;
  caf::scoped_actor self_;
  mm::inspector_actor node_;
  bool quit_ = false;
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
  mm::shell::split_words(std::string(rl_line_buffer, start), words);
  completion_candidates.clear();
  if (words.empty()) {
    for (auto& doc : mm::shell::command_docs())
      completion_candidates.emplace_back(doc.name);
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
  while (!c.quit_requested() && !terminated) {
    interrupted = false;
    interruptible = true;
    char* raw = readline(prompt.c_str());
    interruptible = false;
    if (raw == nullptr) {
      if (interrupted && !terminated) {
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
  cl.add("--secret", opts.secret,
         "the node's admin secret: from MM_ADMIN_SECRET or `secret` in\n"
         "--config only (on the command line ps shows it: refused)")
    ->type_name("S")
    ->envname("MM_ADMIN_SECRET");
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
  // A secret on the command line is visible to every user (ps), as for
  // mm-server's --admin-secret: only the environment or --config give it.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--secret" || arg.rfind("--secret=", 0) == 0) {
      std::cerr << "mm-shell: --secret: a secret on the command line is "
                   "visible in ps; use --secret-file F (or MM_ADMIN_SECRET, "
                   "or secret in --config)"
                << std::endl;
      return mm::bad_flags_status;
    }
  }
  options opts;
  auto timeout_ms = static_cast<uint32_t>(opts.timeout.count());
  mm::command_line flags{"mm-shell", description};
  declare_flags(flags, opts, timeout_ms);
  if (auto status = flags.parse(argc, argv))
    return *status;
  opts.timeout = std::chrono::milliseconds{timeout_ms};
  // CAF's threads never take SIGINT / SIGTERM: they must interrupt the main
  // thread's read (prompt) or poll (watch).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    mm::log::error("mm-shell", "cannot make the wake pipe",
                   {{"error", std::strerror(errno)}});
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
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a blocking read returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
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

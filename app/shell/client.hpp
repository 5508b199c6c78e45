#pragma once

// mm-shell's connection to a node: joins the node's admin endpoint as a CAF
// node of its own, asks the node's inspector with a timeout and prints its
// answers (app/shell/render.hpp) or what went wrong. The command table
// (app/shell/table.cpp) says what each command asks; this class asks.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/host_port.hpp"
#include "actors/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace mm::shell {

struct command;

/// The inspector's handle: its typed interface (actors/interfaces.hpp),
/// which CAF compares with the published one when connecting.
using inspector_actor = mm::inspector_actor;

/// How to reach a node and how to show its answers.
struct client_options {
  /// The node's admin endpoint, and as text for the prompt and messages.
  mm::host_port admin{"127.0.0.1", 50052};
  std::string address;
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
  /// `opts` must outlive the client.
  client(caf::actor_system& sys, const client_options& opts);

  /// Connects and checks the secret; prints what went wrong and returns
  /// false on failure.
  bool connect();

  /// Runs one command line; returns whether it succeeded.
  bool run(const std::string& line);

  /// Whether `quit` ran.
  bool quit_requested() const {
    return quit_;
  }

  /// Session ids and tickers for tab completion (empty on any error).
  std::vector<std::string> session_ids();
  std::vector<std::string> tickers();

  // --- what the rows of the command table use ---

  const client_options& options() const {
    return opts_;
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

  /// Asks the node for a reply without a value and prints `text` or `json`
  /// once it comes; returns whether it came.
  template <class... Ts>
  bool confirm(const std::string& text, const std::string& json,
               Ts&&... request) {
    bool ok = false;
    ask(std::forward<Ts>(request)...)
      .receive(
        [&]() {
          out(opts_.json ? json : text);
          ok = true;
        },
        [&](const caf::error& err) { fail(describe(err)); });
    return ok;
  }

  /// Subscribes a local actor at the node's broadcasters and prints what it
  /// receives until Ctrl-C, `--count` ticks or the loss of the node.
  bool watch(const command& cmd);

  /// Makes `quit_requested` true.
  void quit() {
    quit_ = true;
  }

  /// Prints `text` on stdout.
  void out(const std::string& text);

  /// Prints what went wrong on stderr (and as JSON on stdout with --json).
  void fail(const std::string& what);

private:
  template <class... Ts>
  auto ask(Ts&&... xs) {
    return self_->request(node_, opts_.timeout, std::forward<Ts>(xs)...);
  }

  std::string probe() const;

  std::string connect_error(const caf::error& err) const;

  std::string describe(const caf::error& err) const;

  caf::actor_system& sys_;
  const client_options& opts_;
  caf::scoped_actor self_;
  inspector_actor node_;
  bool quit_ = false;
};

} // namespace mm::shell

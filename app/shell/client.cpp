#include "app/shell/client.hpp"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "actors/messages.hpp"
#include "app/shell/commands.hpp"
#include "app/shell/render.hpp"
#include "app/shell/signals.hpp"

namespace mm::shell {

client::client(caf::actor_system& sys, const client_options& opts)
  : sys_(sys), opts_(opts), self_(sys) {
  // nop
}

bool client::connect() {
  if (auto what = probe(); !what.empty()) {
    fail("cannot reach node at " + opts_.address + ": " + what);
    return false;
  }
  auto node =
    opts_.tls_cert.empty()
      ? sys_.middleman().remote_actor<inspector_actor>(opts_.admin.host,
                                                       opts_.admin.port)
      : caf::openssl::remote_actor<inspector_actor>(sys_, opts_.admin.host,
                                                    opts_.admin.port);
  if (!node) {
    fail("cannot reach node at " + opts_.address + ": "
         + connect_error(node.error()));
    return false;
  }
  node_ = std::move(*node);
  bool ok = false;
  ask(mm::hello_atom::value, opts_.secret)
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

bool client::run(const std::string& line) {
  auto cmd = parse_command(line);
  if (!cmd) {
    fail(text_of(cmd.error()));
    return false;
  }
  return command_of(cmd->kind).run(*this, *cmd);
}

std::vector<std::string> client::session_ids() {
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

std::vector<std::string> client::tickers() {
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

// The broadcasters monitor the local actor: its exit (or this process's
// death) ends the subscriptions on the node.
bool client::watch(const command& cmd) {
  struct shared {
    std::atomic<bool> done{false};
    std::atomic<bool> lost{false};
  };
  auto st = std::make_shared<shared>();
  auto json = opts_.json;
  auto limit = cmd.count;
  auto node = node_;
  auto watcher = sys_.spawn([=](mm::update_sink_actor::pointer self)
                              -> mm::update_sink_actor::behavior_type {
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
        auto text = json ? tick_json(u) : tick_text(u);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        if (limit > 0 && ++*seen >= limit) {
          st->done = true;
          wake();
        }
      },
    };
  });
  drain_wakes();
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
  while (ok && !st->done && !st->lost && !interrupted && !terminated)
    wait_for_wake();
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

void client::out(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void client::fail(const std::string& what) {
  if (opts_.json)
    out(error_json(what));
  std::cerr << "mm-shell: " << what << std::endl;
}

namespace {

std::string lower(std::string x) {
  for (auto& c : x)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return x;
}

/// Connects with plain TCP (5 s timeouts) to the addresses of `where` in
/// turn until one accepts, and calls `accepted(fd)` on that one. Returns
/// an empty string once one accepted, or what went wrong: the resolver's
/// error, or the last connect's (lower case).
template <class F>
std::string dial(const mm::host_port& where, F accepted) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port = std::to_string(where.port);
  if (auto rc = getaddrinfo(where.host.c_str(), port.c_str(), &hints, &res);
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
      result = lower(std::strerror(errno));
      close(fd);
      continue;
    }
    accepted(fd);
    close(fd);
    result.clear();
    break;
  }
  freeaddrinfo(res);
  return result;
}

} // namespace

/// Connects once without CAF and reads the first bytes: CAF 0.17 crashes
/// (SIGSEGV) on a peer that does not speak BASP, e.g. the gRPC port, so
/// the shell checks for a BASP server handshake first (an all-zero
/// operation/flags word and a small protocol version). Returns what is
/// wrong, or an empty string.
std::string client::probe() const {
  bool basp = false;
  auto err = dial(opts_.admin, [&](int fd) {
    unsigned char hdr[16];
    size_t got = 0;
    while (got < sizeof(hdr)) {
      auto n = ::read(fd, hdr + got, sizeof(hdr) - got);
      if (n <= 0)
        break;
      got += static_cast<size_t>(n);
    }
    basp = got == sizeof(hdr);
    for (size_t i : {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14})
      basp = basp && hdr[i] == 0;
  });
  if (!err.empty())
    return err;
  if (!basp)
    return "the endpoint is not an mm-server admin endpoint (it does "
           "not speak CAF's BASP; is it the gRPC port?)";
  return {};
}

/// CAF says "system_error(cannot_connect_to_node, ...)" and connects on
/// its own thread, so errno is lost: one plain connect finds the cause.
std::string client::connect_error(const caf::error& err) const {
  // CAF compares the inspector's interface with ours when connecting.
  if (err == caf::sec::unexpected_actor_messaging_interface)
    return "the node's inspector has another interface than this mm-shell "
           "expects (mm-shell and mm-server of different versions?)";
  if (err != caf::sec::cannot_connect_to_node)
    return sys_.render(err);
  auto what = dial(opts_.admin, [](int) {});
  if (!what.empty())
    return what;
  return "the endpoint accepted TCP but did not speak CAF's BASP "
         "(is it the admin endpoint?)";
}

std::string client::describe(const caf::error& err) const {
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

} // namespace mm::shell

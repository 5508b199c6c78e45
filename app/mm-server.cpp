// mm-server: one marketmonitor node. Parses flags (app/options/), builds the
// actor system and the node, serves gRPC and waits for SIGTERM / SIGINT.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/errors.hpp"
#include "actors/host_port.hpp"
#include "actors/node.hpp"
#include "actors/node_config.hpp"
#include "app/absl_mode.hpp"
#include "app/options/log_flags.hpp"
#include "app/options/server_flags.hpp"
#include "logging/log.hpp"
#include "service/grpc_service.hpp"
#include "service/heap_trim.hpp"
#include "service/metrics_endpoint.hpp"

namespace {

/// Waits for a second signal or the end of the shutdown bound, whichever
/// comes first, and then ends the process at once.
void watch_shutdown(sigset_t signals, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero())
      break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
    int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig > 0) {
      mm::log::error("mm-server", "second signal, exiting now");
      _exit(1);
    }
    if (errno != EINTR && errno != EAGAIN)
      break;
  }
  mm::log::error("mm-server", "shutdown did not complete within "
                                + std::to_string(bound.count())
                                + " ms, exiting");
  _exit(1);
}

/// Publishes the node's inspector on --admin-listen; returns the bound
/// HOST:PORT.
caf::expected<std::string> publish_admin(caf::actor_system& sys,
                                         mm::node& node) {
  auto& cfg = node.config();
  auto at = *mm::host_port::parse(cfg.admin_listen);
  // --admin-tls: TLS connections only, with a client certificate that the
  // CA of --cluster-ca signed.
  auto bound = !cfg.admin_tls
                 ? sys.middleman().publish(node.inspector(), at.port,
                                           at.host.c_str(), true)
                 : caf::openssl::publish(node.inspector(), at.port,
                                         at.host.c_str(), true);
  (void) sys;
  if (!bound)
    return bound.error();
  at.port = *bound;
  return at.to_string();
}

/// Publishes a hub's ticker directory on --cluster-listen through the
/// node's cluster middleman actor (with TLS or the cluster secret when
/// configured), as caf::io::publish does with CAF's own; returns the bound
/// HOST:PORT.
caf::expected<std::string> publish_cluster(caf::actor_system& sys,
                                           mm::node& node) {
  auto& cfg = node.config();
  auto at = *mm::host_port::parse(cfg.cluster_listen);
  caf::expected<uint16_t> bound{uint16_t{0}};
  caf::scoped_actor self{sys};
  auto& mm = node.cluster_middleman();
  auto whom = caf::actor_cast<caf::strong_actor_ptr>(node.directory());
  // Published without its interface (an empty set), as before it was typed:
  // the hub link checks the protocol version at hello instead.
  self
    ->request(mm, caf::infinite, caf::publish_atom::value, at.port,
              std::move(whom), std::set<std::string>{}, at.host, true)
    .receive([&](uint16_t port) { bound = port; },
             [&](caf::error& err) { bound = std::move(err); });
  if (!bound)
    return bound.error();
  at.port = *bound;
  return at.to_string();
}

} // namespace

int main(int argc, char** argv) {
  mm::server_config cfg;
  mm::disable_mutex_deadlock_detection();
  mm::command_line flags{"mm-server", mm::server_description};
  mm::declare_server_flags(flags, cfg);
  if (auto status = flags.parse(argc, argv))
    return *status;
  mm::configure_logging(cfg.log_level, cfg.log_format);
  // Block the signals before any thread exists: every thread inherits the
  // mask, and only sigwait below ever sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // SIGHUP rereads the TLS files and the token key (docs/security.md).
  sigset_t waited = signals;
  sigaddset(&waited, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // CAF's own command-line parsing never sees our flags.
  caf::actor_system_config sys_cfg;
  mm::configure(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  mm::node node{sys, cfg};
  // A hub serves edges only: its own gRPC sessions would subscribe Redis
  // for tickers that another hub owns.
  auto is_hub = cfg.role == mm::node_role::hub;
  mm::grpc_front front{sys, node, cfg};
  if (!is_hub) {
    // Unreadable or mismatched TLS files and bad token keys are bad flags:
    // one line in the options layer's form, and exit 2. What fails once
    // the flags are good is logged (exit 1).
    if (auto err = front.configure_security()) {
      std::cerr << "mm-server: " << mm::text_of(err) << std::endl;
      node.shutdown();
      return 2;
    }
    if (auto err = front.start()) {
      mm::log::error("mm-server", mm::text_of(err));
      node.shutdown();
      return 1;
    }
  }
  auto admin = publish_admin(sys, node);
  if (!admin) {
    mm::log::error("mm-server", "cannot open the admin endpoint "
                                  + cfg.admin_listen + ": "
                                  + sys.render(admin.error()));
    node.shutdown();
    if (!is_hub)
      front.shutdown(std::chrono::system_clock::now());
    return 1;
  }
  // Up before the ready line, so that a scrape right after it finds it.
  mm::metrics_endpoint metrics_http{sys, node};
  if (!cfg.metrics_listen.empty()) {
    if (auto err = metrics_http.start()) {
      mm::log::error("mm-server", mm::text_of(err));
      node.shutdown();
      if (!is_hub)
        front.shutdown(std::chrono::system_clock::now());
      return 1;
    }
    mm::log::info("mm-server", "serving /metrics and /healthz",
                  {{"address", metrics_http.address()}});
  }
  std::string cluster;
  if (is_hub) {
    auto bound = publish_cluster(sys, node);
    if (!bound) {
      mm::log::error("mm-server", "cannot open the cluster endpoint "
                                    + cfg.cluster_listen + ": "
                                    + sys.render(bound.error()));
      node.shutdown();
      return 1;
    }
    cluster = *bound;
    node.announce(cluster, *admin);
    std::cout << "marketmonitor ready grpc=none admin=" << *admin
              << " cluster=" << cluster << std::endl;
  } else {
    node.announce(front.address(), *admin);
    std::cout << "marketmonitor ready grpc=" << front.address()
              << " admin=" << *admin << std::endl;
  }
  if (cfg.malloc_trim_interval_ms > 0)
    std::thread{mm::trim_heap_every,
                std::chrono::milliseconds{cfg.malloc_trim_interval_ms}}
      .detach();
  int sig = 0;
  for (;;) {
    if (sigwait(&waited, &sig) != 0)
      continue;
    if (sig != SIGHUP)
      break;
    if (is_hub) {
      mm::log::info("mm-server", "SIGHUP: a hub has no gRPC credentials");
      continue;
    }
    if (auto err = front.reload_security())
      mm::log::error("mm-server",
                     "SIGHUP: kept the old credentials: " + mm::text_of(err));
    else
      mm::log::info("mm-server", "SIGHUP: reread the TLS files and token key");
  }
  mm::log::info("mm-server", std::string{sig == SIGINT ? "SIGINT" : "SIGTERM"}
                               + ", shutting down");
  auto bound = std::chrono::milliseconds{cfg.shutdown_timeout_ms};
  std::thread{watch_shutdown, signals, bound}.detach();
  // Sessions end first (their streams with UNAVAILABLE); gRPC gets most of
  // the bound for them, the rest is for tearing down the actors.
  node.shutdown();
  if (!is_hub)
    front.shutdown(std::chrono::system_clock::now() + bound * 4 / 5);
  return 0;
}

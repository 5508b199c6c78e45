#include "actors/secret_middleman.hpp"

#include <memory>
#include <mutex>
#include <utility>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/sec.hpp>

#include "actors/cluster_secret.hpp"
#include "actors/errors.hpp"
#include "logging/log.hpp"

namespace mm {

namespace {

/// Challenges under way at once on a hub, in all and from one peer address;
/// a peer beyond is dropped at once. Each holds a socket for the timeout at
/// most, so peers that connect and stall cost this many sockets, not more,
/// and one host cannot take all of them.
constexpr size_t max_challenges = 256;
constexpr size_t max_challenges_per_host = 8;

/// Logs refused peers, at most one line a second, with a count of the
/// lines held back. Called from the challenge thread and the multiplexer.
class refusal_log {
public:
  void refused(const std::string& peer, const std::string& why) {
    auto now = std::chrono::steady_clock::now();
    size_t held = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (now - last_ < std::chrono::seconds(1)) {
        ++held_;
        return;
      }
      last_ = now;
      held = std::exchange(held_, 0);
    }
    auto line = "refused cluster peer " + peer
                + " (--cluster-secret-file): " + why + "; disconnected";
    if (held > 0)
      line += " (" + std::to_string(held) + " more refusals not logged)";
    log::warn("cluster", line, {{"peer", peer}});
  }

private:
  std::mutex mtx_;
  std::chrono::steady_clock::time_point last_;
  size_t held_ = 0;
};

using default_mpx = caf::io::network::default_multiplexer;

/// Accepts like CAF's doorman, but hands a connection to the broker (as a
/// scribe, with the new_connection message) only once the peer passed the
/// challenge. The challenge runs on the challenge server's thread, never
/// on the multiplexer's.
class secret_doorman : public caf::io::network::doorman_impl {
public:
  secret_doorman(default_mpx& mx, caf::io::network::native_socket fd,
                 std::weak_ptr<cluster_secret::server> challenges,
                 std::shared_ptr<refusal_log> refusals)
    : doorman_impl(mx, fd),
      challenges_(std::move(challenges)),
      refusals_(std::move(refusals)) {
    // nop
  }

  bool new_connection() override {
    if (detached())
      return false;
    auto fd = acceptor_.accepted_socket();
    auto challenges = challenges_.lock();
    if (!challenges) {
      // The middleman actor is gone (shutdown): nobody gets in.
      ::close(fd);
      return true;
    }
    // Holds this doorman until the challenge ends, even if it is closed
    // meanwhile (admit checks that).
    caf::intrusive_ptr<secret_doorman> self{this};
    auto refusals = refusals_;
    challenges->add(fd, [self, refusals](int verified, const std::string& peer,
                                         const caf::error& err) {
      if (verified < 0) {
        refusals->refused(peer, text_of(err));
        return;
      }
      self->acceptor_.backend().post(
        [self, verified] { self->admit(verified); });
    });
    return true;
  }

private:
  /// On the multiplexer's thread: what CAF's doorman does at once.
  void admit(int fd) {
    if (detached()) {
      // The broker closed this port meanwhile.
      ::close(fd);
      return;
    }
    auto& dm = acceptor_.backend();
    auto scribe = dm.new_scribe(fd);
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    doorman::new_connection(&dm, hdl);
  }

  /// Owned by the middleman actor only: the challenge thread may release
  /// the last reference to this doorman, and must not end itself then.
  std::weak_ptr<cluster_secret::server> challenges_;
  std::shared_ptr<refusal_log> refusals_;
};

class secret_middleman : public caf::io::middleman_actor_impl {
public:
  secret_middleman(caf::actor_config& cfg, caf::actor broker,
                   std::string secret, std::chrono::milliseconds timeout)
    : middleman_actor_impl(cfg, std::move(broker)),
      secret_(std::move(secret)),
      timeout_(timeout),
      challenges_(std::make_shared<cluster_secret::server>(
        secret_, timeout, max_challenges, max_challenges_per_host)),
      refusals_(std::make_shared<refusal_log>()) {
    // nop
  }

  const char* name() const override {
    return "mm.secret_middleman";
  }

  void on_exit() override {
    // No challenge outlives us; doormans still open refuse new ones.
    challenges_->stop();
    middleman_actor_impl::on_exit();
  }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host,
                                             uint16_t port) override {
    // Blocks this (detached) actor, as CAF's own connect does, but never
    // longer than the timeout.
    auto deadline = cluster_secret::clock_type::now() + timeout_;
    auto fd = cluster_secret::connect_tcp(host, port, deadline);
    if (!fd)
      return std::move(fd.error());
    if (auto err = cluster_secret::run_client(*fd, secret_, deadline)) {
      ::close(*fd);
      // CAF's connect fails with sec::cannot_connect_to_node; the text says
      // why.
      return caf::make_error(caf::sec::cannot_connect_to_node, text_of(err));
    }
    return mpx().new_scribe(*fd);
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr,
                                           bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd)
      return std::move(fd.error());
    return caf::make_counted<secret_doorman>(mpx(), *fd, challenges_,
                                             refusals_);
  }

private:
  default_mpx& mpx() {
    return static_cast<default_mpx&>(system().middleman().backend());
  }

  std::string secret_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<cluster_secret::server> challenges_;
  std::shared_ptr<refusal_log> refusals_;
};

} // namespace

caf::io::middleman_actor
spawn_secret_middleman(caf::actor_system& sys, std::string secret,
                       std::chrono::milliseconds timeout) {
  auto broker =
    sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto hdl = sys.spawn<secret_middleman, caf::detached + caf::hidden>(
    std::move(broker), std::move(secret), timeout);
  return caf::actor_cast<caf::io::middleman_actor>(hdl);
}

} // namespace mm

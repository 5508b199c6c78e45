#include "actors/peer_guard.hpp"

#include <atomic>
#include <chrono>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/local_actor.hpp>
#include <caf/system_messages.hpp>

#include "logging/log.hpp"

namespace mm {

namespace {

std::atomic<uint64_t> refused_total{0};

/// At most `burst` lines per `window` for the whole process: a peer that
/// floods us with forged messages must not flood the log as well.
class log_limiter {
public:
  /// Returns whether to log now; `skipped` is how many were left out since
  /// the last line that was logged.
  bool admit(uint64_t& skipped) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= window) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst) {
      ++skipped_;
      return false;
    }
    ++in_window_;
    skipped = skipped_;
    skipped_ = 0;
    return true;
  }

private:
  static constexpr auto window = std::chrono::seconds(10);
  static constexpr uint32_t burst = 10;
  std::mutex mtx_;
  std::chrono::steady_clock::time_point window_start_;
  uint32_t in_window_ = 0;
  uint64_t skipped_ = 0;
};

log_limiter limiter;

/// Closes the BASP connection to `peer` on the middleman's thread, where
/// the BASP broker runs (so this never races with it).
void disconnect(caf::actor_system& sys, const caf::node_id& peer) {
  auto& mm = sys.middleman();
  mm.backend().post([&sys, peer] {
    auto hdl =
      sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto* bb = static_cast<caf::io::basp_broker*>(
      caf::actor_cast<caf::abstract_actor*>(hdl));
    if (bb == nullptr || bb->getf(caf::abstract_actor::is_terminated_flag))
      return;
    auto conn = bb->instance.tbl().lookup_direct(peer);
    if (!conn)
      return;
    // What CAF does when the peer closes: its proxies go down (down_msg
    // with remote_link_unreachable for whoever monitors them).
    bb->close(*conn);
    bb->connection_cleanup(*conn, caf::sec::socket_disconnected);
  });
}

std::string describe_content(const caf::type_erased_tuple& content) {
  auto text = content.stringify();
  constexpr size_t max_text = 200;
  if (text.size() > max_text) {
    text.resize(max_text);
    text += "...";
  }
  return text;
}

} // namespace

caf::node_id inbound::node() const {
  return sender ? sender->node() : caf::node_id{};
}

uint64_t peers_refused_total() {
  return refused_total.load(std::memory_order_relaxed);
}

void refuse_peer(caf::actor_system& sys, const caf::node_id& peer,
                 const std::string& actor, const std::string& what) {
  refused_total.fetch_add(1, std::memory_order_relaxed);
  auto remote = peer != caf::node_id{} && peer != sys.node();
  uint64_t skipped = 0;
  if (limiter.admit(skipped)) {
    auto line = actor + " refused " + what;
    if (remote)
      line += " from node " + to_string(peer) + "; disconnecting it";
    if (skipped > 0)
      line += " (" + std::to_string(skipped)
              + " more refusals not logged before this one)";
    log::warn("security", line);
  }
  if (remote)
    disconnect(sys, peer);
}

namespace detail {

common_verdict common_screen(caf::local_actor* self,
                             const caf::mailbox_element& x, std::string& why) {
  // A reply to a request of ours (or its timeout): CAF matches it to the
  // request or drops it.
  if (x.mid.is_response())
    return common_verdict::accept;
  auto& content = x.content();
  auto& sender = x.sender;
  if (content.type_token() == caf::make_type_token<caf::exit_msg>()) {
    // An exit_msg with reason kill ends any actor, whatever its exit
    // handler says: only our own named actors may send one.
    if (sender && sender->node() == self->node())
      return common_verdict::accept;
    why = "an exit message";
    return common_verdict::refuse;
  }
  if (content.type_token() == caf::make_type_token<caf::down_msg>()) {
    // CAF sends a down_msg as the actor that went down (a proxy, for an
    // actor of another node); a peer may forge one only about itself.
    auto& dm = content.get_as<caf::down_msg>(0);
    if (!sender || sender->address() == dm.source)
      return common_verdict::accept;
    why = "a down message about another actor";
    return common_verdict::refuse;
  }
  if (!sender) {
    why = "an anonymous message";
    return common_verdict::refuse;
  }
  return common_verdict::ask_rule;
}

void refuse(caf::local_actor* self, const char* actor,
            const caf::mailbox_element& x, const std::string& why) {
  auto what = why.empty() ? std::string{"a message"} : why;
  what += " (" + describe_content(x.content()) + ")";
  refuse_peer(self->system(), x.sender ? x.sender->node() : caf::node_id{},
              actor, what);
}

} // namespace detail

} // namespace mm

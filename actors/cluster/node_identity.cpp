#include "actors/cluster/node_identity.hpp"

#include <chrono>
#include <utility>

#include <caf/actor_system.hpp>

#include "actors/metrics.hpp"

namespace mm {

const char* to_string(node_role x) {
  switch (x) {
    case node_role::hub: return "hub";
    case node_role::edge: return "edge";
    default: return "standalone";
  }
}

node_identity::node_identity(node_role role) : role_(role) {
  using namespace std::chrono;
  up_since_ms_ =
    duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void node_identity::set_addresses(std::string address, std::string admin) {
  std::lock_guard<std::mutex> guard{mtx_};
  address_ = std::move(address);
  admin_ = std::move(admin);
}

node_info node_identity::describe(const caf::actor_system& sys,
                                  const metrics& m) const {
  node_info x;
  x.role = to_string(role_);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    x.address = address_;
    x.admin = admin_;
  }
  x.node_id = to_string(sys.node());
  x.up_since_ms = up_since_ms_;
  x.sessions = m.sessions.load(std::memory_order_relaxed);
  x.relays = m.relays.load(std::memory_order_relaxed);
  x.broadcasters = m.broadcasters.load(std::memory_order_relaxed);
  x.state = "self";
  return x;
}

} // namespace mm

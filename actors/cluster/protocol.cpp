#include "actors/cluster/protocol.hpp"

#include "actors/node_config.hpp"

namespace mm {

uint32_t protocol_of(const node_config& cfg) {
  return cfg.cluster_protocol != 0 ? cfg.cluster_protocol
                                   : cluster_protocol_version;
}

} // namespace mm

#include "service/caller.hpp"

#include <grpcpp/server_context.h>

namespace mm {

std::string peer_host_of(const std::string& grpc_peer) {
  auto strip_port = [](const std::string& s) {
    if (!s.empty() && s.front() == '[') {
      auto close = s.find(']');
      return close == std::string::npos ? s : s.substr(1, close - 1);
    }
    auto colon = s.rfind(':');
    return colon == std::string::npos ? s : s.substr(0, colon);
  };
  for (const char* scheme : {"ipv4:", "ipv6:"}) {
    auto n = std::char_traits<char>::length(scheme);
    if (grpc_peer.compare(0, n, scheme) == 0)
      return strip_port(grpc_peer.substr(n));
  }
  return grpc_peer;
}

} // namespace mm

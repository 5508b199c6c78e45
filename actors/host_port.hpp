#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mm {

/// A network address as the command lines write it: `HOST:PORT`, with an
/// IPv6 host in brackets (`[::1]:50052`).
struct host_port {
  /// The host without brackets, as a resolver or `bind` takes it.
  std::string host;
  uint16_t port = 0;

  /// Parses `text`; on failure returns nothing and, if `why` is set, says
  /// what was wrong. Ports below `min_port` are refused (0 where the system
  /// may pick a free port).
  static std::optional<host_port> parse(std::string_view text,
                                        unsigned min_port = 0,
                                        std::string* why = nullptr);

  /// `HOST:PORT` again, brackets around a host that holds a `:`.
  std::string to_string() const;

  /// Whether the host names this machine only.
  bool is_loopback() const;
};

} // namespace mm

#include "actors/host_port.hpp"

namespace mm {

std::optional<host_port> host_port::parse(std::string_view text,
                                          unsigned min_port, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<host_port> {
    if (why != nullptr)
      *why = std::move(reason);
    return std::nullopt;
  };
  auto expected = "expected HOST:PORT with a port from "
                  + std::to_string(min_port) + " to 65535, got \""
                  + std::string{text} + "\"";
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()
      || text.size() - colon - 1 > 5)
    return fail(expected);
  auto host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return fail(expected);
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return fail("an IPv6 host goes in brackets, as in [::1]:PORT; got \""
                + std::string{text} + "\"");
  }
  unsigned long port = 0;
  for (auto c : text.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return fail(expected);
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port < min_port || port > 65535)
    return fail(expected);
  return host_port{std::string{host}, static_cast<uint16_t>(port)};
}

std::string host_port::to_string() const {
  auto p = std::to_string(port);
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + p;
  return host + ":" + p;
}

bool host_port::is_loopback() const {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

} // namespace mm

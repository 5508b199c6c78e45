#include "actors/tcp_connect.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mm {

tcp_connect::~tcp_connect() {
  reset();
}

void tcp_connect::reset() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  connected_ = false;
}

bool tcp_connect::fail(const std::string& what, int err) {
  reset();
  error_ = what + ": " + std::strerror(err);
  return false;
}

bool tcp_connect::start(const std::string& host, uint16_t port) {
  reset();
  error_.clear();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* addrs = nullptr;
  auto service = std::to_string(port);
  if (auto rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &addrs);
      rc != 0) {
    error_ = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  // The first address only: a second would need a second deadline, and
  // Redis is normally named by one address.
  auto* ai = addrs;
  fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 ai->ai_protocol);
  if (fd_ < 0) {
    auto err = errno;
    freeaddrinfo(addrs);
    return fail("socket", err);
  }
  auto rc = ::connect(fd_, ai->ai_addr, ai->ai_addrlen);
  auto err = errno;
  freeaddrinfo(addrs);
  if (rc == 0) {
    connected_ = true;
    return true;
  }
  if (err != EINPROGRESS)
    return fail("connect", err);
  return true;
}

tcp_connect::state tcp_connect::poll() {
  if (fd_ < 0)
    return state::idle;
  if (connected_)
    return state::connected;
  pollfd p{fd_, POLLOUT, 0};
  auto n = ::poll(&p, 1, 0);
  if (n < 0) {
    if (errno == EINTR)
      return state::pending;
    fail("poll", errno);
    return state::idle;
  }
  if (n == 0)
    return state::pending;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0) {
    fail("connect", err);
    return state::idle;
  }
  connected_ = true;
  return state::connected;
}

int tcp_connect::take() {
  if (!connected_)
    return -1;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto result = fd_;
  fd_ = -1;
  connected_ = false;
  return result;
}

} // namespace mm

#include "tests/integration/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace mm::test {

namespace {

// Every descriptor of the proxy is close-on-exec: a process the test forks
// (the churn test's Python clients) must not hold a copy of a socket, or
// the proxy's close of it sends no FIN and the peer never learns that the
// other side went away.

void make_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int connect_loopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  make_nonblocking(fd);
  return fd;
}

/// What a direction holds at most before the proxy stops reading its source:
/// a side that does not read slows down the other as TCP would, and never
/// the opposite direction.
constexpr size_t max_buffered = 65536;

bool would_block() {
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

} // namespace

/// One proxied connection: side 0 is the client, side 1 the target. Each
/// direction has a buffer of its own, so a side that does not read (or reads
/// slowly) never stops the other direction, e.g. a client's PING ack. An end
/// of stream is passed on (shutdown for writing) once the direction's
/// buffer is written; an error on either side closes both.
struct tcp_proxy::pair {
  std::array<int, 2> fd{{-1, -1}};
  /// `buf[s]`: read from side s, not yet written to the other side.
  std::array<std::string, 2> buf;
  /// Side s sent its end of stream.
  std::array<bool, 2> eof{{false, false}};
  size_t number = 0;

  /// Reads from side `s` what fits; false on an error.
  bool read_from(int s) {
    char tmp[16384];
    auto room = std::min(sizeof(tmp), max_buffered - buf[s].size());
    if (room == 0 || eof[s])
      return true;
    auto n = recv(fd[s], tmp, room, 0);
    if (n > 0)
      buf[s].append(tmp, static_cast<size_t>(n));
    else if (n == 0)
      eof[s] = true;
    else if (!would_block())
      return false;
    return true;
  }

  /// Writes to side `s` what the other side sent; false on an error.
  bool write_to(int s) {
    auto& out = buf[1 - s];
    if (!out.empty()) {
      auto n = send(fd[s], out.data(), out.size(), MSG_NOSIGNAL);
      if (n > 0)
        out.erase(0, static_cast<size_t>(n));
      else if (n < 0 && !would_block())
        return false;
    }
    // The other side's end of stream, once all it sent is through.
    if (eof[1 - s] && out.empty() && !shut[s]) {
      shutdown(fd[s], SHUT_WR);
      shut[s] = true;
    }
    return true;
  }

  /// Both directions ended and were passed on.
  bool finished() const {
    return shut[0] && shut[1];
  }

  short events(int s) const {
    short ev = 0;
    if (!eof[s] && buf[s].size() < max_buffered)
      ev |= POLLIN;
    if (!buf[1 - s].empty())
      ev |= POLLOUT;
    return ev;
  }

  void close_both() {
    for (auto& x : fd)
      if (x >= 0)
        close(x);
    fd = {{-1, -1}};
  }

  std::array<bool, 2> shut{{false, false}};
};

tcp_proxy::tcp_proxy(uint16_t target) : target_(target) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0
      || listen(listen_fd_, 128) != 0
      || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("tcp_proxy: cannot listen");
  port_ = ntohs(addr.sin_port);
  if (pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error("tcp_proxy: pipe failed");
  thread_ = std::thread{[this] { run(); }};
}

tcp_proxy::~tcp_proxy() {
  stop_ = true;
  auto ignored = write(wake_[1], "x", 1);
  (void) ignored;
  thread_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void tcp_proxy::run() {
  std::vector<pair> pairs;
  // Frozen pairs of freeze_existing: kept open, never read or written.
  std::vector<pair> silent;
  while (!stop_) {
    for (size_t i = 0; i < pairs.size();) {
      if (pairs[i].number < frozen_below_) {
        silent.push_back(std::move(pairs[i]));
        pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    bool frozen = frozen_;
    if (!frozen)
      for (auto& p : pairs)
        for (int s = 0; s < 2; ++s)
          fds.push_back({p.fd[s], p.events(s), 0});
    // Wake up now and then to see a freeze without traffic.
    if (poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR)
      break;
    if (fds[1].revents & POLLIN) {
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        int server = connect_loopback(target_);
        if (server < 0) {
          close(client);
        } else {
          make_nonblocking(client);
          pair p;
          p.fd = {{client, server}};
          p.number = accepted_++;
          pairs.push_back(std::move(p));
        }
      }
    }
    if (frozen)
      continue;
    // Only the pairs polled above: the accept may have added one.
    auto polled = (fds.size() - 2) / 2;
    for (size_t i = 0; i < polled; ++i) {
      auto& p = pairs[i];
      bool ok = true;
      for (int s = 0; s < 2 && ok; ++s) {
        auto rev = fds[2 + 2 * i + static_cast<size_t>(s)].revents;
        if (rev & POLLERR)
          ok = false;
        else if (rev & (POLLIN | POLLHUP))
          ok = p.read_from(s);
      }
      for (int s = 0; s < 2 && ok; ++s)
        ok = p.write_to(s);
      // A side that hung up both ways takes nothing more either.
      for (int s = 0; s < 2 && ok; ++s)
        if ((fds[2 + 2 * i + static_cast<size_t>(s)].revents & POLLHUP)
            && p.eof[s] && p.buf[s].empty())
          ok = p.buf[1 - s].empty() && p.eof[1 - s];
      if (!ok || p.finished())
        p.close_both();
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                               [](const pair& p) { return p.fd[0] < 0; }),
                pairs.end());
  }
  for (auto& p : pairs)
    p.close_both();
  for (auto& p : silent)
    p.close_both();
}

} // namespace mm::test

#include "tests/integration/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace mm::test {

namespace {

int connect_loopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/// Moves what `from` has to `to`; false when either side is done.
bool pump(int from, int to) {
  char buf[16384];
  auto n = read(from, buf, sizeof(buf));
  if (n <= 0)
    return false;
  for (ssize_t off = 0; off < n;) {
    auto w = write(to, buf + off, static_cast<size_t>(n - off));
    if (w <= 0)
      return false;
    off += w;
  }
  return true;
}

} // namespace

tcp_proxy::tcp_proxy(uint16_t target) : target_(target) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
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
  if (pipe(wake_) != 0)
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
  // Pairs of (client side, server side), and each one's accept number.
  std::vector<std::pair<int, int>> pairs;
  std::vector<size_t> numbers;
  // Frozen pairs of freeze_existing: kept open, never read.
  std::vector<std::pair<int, int>> silent;
  while (!stop_) {
    for (size_t i = 0; i < pairs.size();) {
      if (numbers[i] < frozen_below_) {
        silent.push_back(pairs[i]);
        pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
        numbers.erase(numbers.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    bool frozen = frozen_;
    if (!frozen)
      for (auto& p : pairs) {
        fds.push_back({p.first, POLLIN, 0});
        fds.push_back({p.second, POLLIN, 0});
      }
    // Wake up now and then to see a freeze without traffic.
    if (poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR)
      break;
    if (fds[1].revents & POLLIN) {
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client >= 0) {
        int server = connect_loopback(target_);
        if (server < 0) {
          close(client);
        } else {
          int one = 1;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          pairs.emplace_back(client, server);
          numbers.push_back(accepted_++);
        }
      }
    }
    if (frozen)
      continue;
    // Only the pairs polled above: the accept may have added one.
    auto polled = (fds.size() - 2) / 2;
    for (size_t i = 0; i < polled; ++i) {
      auto& a = fds[2 + 2 * i];
      auto& b = fds[3 + 2 * i];
      bool ok = true;
      if (a.revents & (POLLIN | POLLHUP | POLLERR))
        ok = pump(pairs[i].first, pairs[i].second);
      if (ok && (b.revents & (POLLIN | POLLHUP | POLLERR)))
        ok = pump(pairs[i].second, pairs[i].first);
      if (!ok) {
        close(pairs[i].first);
        close(pairs[i].second);
        pairs[i] = {-1, -1};
      }
    }
    for (size_t i = 0; i < pairs.size();) {
      if (pairs[i].first < 0) {
        pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
        numbers.erase(numbers.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
  pairs.insert(pairs.end(), silent.begin(), silent.end());
  for (auto& p : pairs) {
    close(p.first);
    close(p.second);
  }
}

} // namespace mm::test

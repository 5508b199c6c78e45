// The redis listener's non-blocking connect against real loopback sockets.

#include "actors/tcp_connect.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

namespace {

using mm::tcp_connect;
using state = tcp_connect::state;
using clock_type = std::chrono::steady_clock;

/// A loopback listener; `backlog` 0 lets one connection wait for accept,
/// after which Linux drops further SYNs: a peer that never answers.
struct listener {
  explicit listener(int backlog) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(fd, backlog), 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~listener() {
    close(fd);
  }
  int fd = -1;
  uint16_t port = 0;
};

/// Polls until the attempt is no longer pending (a loopback handshake takes
/// microseconds; 5 s is the give-up bound, not an expected wait).
state settle(tcp_connect& c) {
  auto deadline = clock_type::now() + std::chrono::seconds{5};
  auto s = c.poll();
  while (s == state::pending && clock_type::now() < deadline)
    s = c.poll();
  return s;
}

TEST(tcp_connect, connects_and_hands_over_the_socket) {
  listener l{16};
  tcp_connect c;
  ASSERT_TRUE(c.start("127.0.0.1", l.port)) << c.error();
  ASSERT_EQ(settle(c), state::connected);
  auto fd = c.take();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(c.poll(), state::idle); // Taken: no longer ours.
  EXPECT_EQ(c.take(), -1);
  int peer = accept(l.fd, nullptr, nullptr);
  ASSERT_GE(peer, 0);
  ASSERT_EQ(write(fd, "x", 1), 1);
  char buf = 0;
  EXPECT_EQ(read(peer, &buf, 1), 1);
  EXPECT_EQ(buf, 'x');
  close(peer);
  close(fd);
}

TEST(tcp_connect, refused_says_so) {
  uint16_t port = 0;
  {
    listener l{1}; // Bound, then closed: nobody listens there now.
    port = l.port;
  }
  tcp_connect c;
  // Loopback may refuse at once or on the first look.
  if (c.start("127.0.0.1", port)) {
    EXPECT_EQ(settle(c), state::idle);
  }
  EXPECT_NE(c.error().find("refused"), std::string::npos) << c.error();
}

TEST(tcp_connect, unknown_host_says_so) {
  tcp_connect c;
  EXPECT_FALSE(c.start("no-such-host.invalid", 6379));
  EXPECT_NE(c.error().find("cannot resolve no-such-host.invalid"),
            std::string::npos)
    << c.error();
}

TEST(tcp_connect, a_peer_that_never_answers_leaves_it_pending) {
  listener l{0};
  // The one connection the backlog holds; the next SYN is dropped.
  tcp_connect first;
  ASSERT_TRUE(first.start("127.0.0.1", l.port));
  ASSERT_EQ(settle(first), state::connected);
  tcp_connect c;
  auto t0 = clock_type::now();
  ASSERT_TRUE(c.start("127.0.0.1", l.port)) << c.error();
  // start returned without waiting for the handshake, and there is none.
  EXPECT_LT(clock_type::now() - t0, std::chrono::seconds{1});
  EXPECT_EQ(c.poll(), state::pending);
  EXPECT_EQ(c.poll(), state::pending);
  c.reset();
  EXPECT_EQ(c.poll(), state::idle);
}

} // namespace

// The cluster-secret challenge (actors/cluster_secret.hpp) over socketpairs
// and loopback sockets: both sides with the right secret, a wrong secret on
// either side, truncated and garbage input, stalled peers, the server
// thread's deadlines and its bound, and reading the secret file.

#include "actors/cluster_secret.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"

namespace {

namespace cs = mm::cluster_secret;
using std::chrono::milliseconds;

const std::string secret_a(40, 'a');
const std::string secret_b(40, 'b');

cs::clock_type::time_point in(milliseconds t) {
  return cs::clock_type::now() + t;
}

/// What `err` of run_client or run_server says, after checking that it is
/// ec::handshake_failed; an empty string when there is no error.
std::string why_of(const caf::error& err) {
  if (!err)
    return {};
  EXPECT_EQ(mm::code_of(err), mm::ec::handshake_failed) << mm::text_of(err);
  auto text = mm::text_of(err);
  return text.empty() ? "(an error without text)" : text;
}

/// A connected pair of stream sockets; closes what is still open.
struct pair {
  pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    hub = fds[0];
    edge = fds[1];
  }
  ~pair() {
    close_hub();
    close_edge();
  }
  void close_hub() {
    if (hub >= 0)
      ::close(hub);
    hub = -1;
  }
  void close_edge() {
    if (edge >= 0)
      ::close(edge);
    edge = -1;
  }
  int hub = -1;
  int edge = -1;
};

/// Runs the hub's side on another thread.
std::future<std::string> serve(int fd, std::string secret, milliseconds t) {
  return std::async(std::launch::async, [fd, secret, t] {
    return why_of(cs::run_server(fd, secret, in(t)));
  });
}

std::string read_some(int fd, size_t n, milliseconds t) {
  std::string result;
  auto deadline = in(t);
  while (result.size() < n) {
    pollfd pfd{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<milliseconds>(
      deadline - cs::clock_type::now());
    if (left.count() <= 0
        || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      break;
    char buf[256];
    auto got = ::read(fd, buf, std::min(sizeof(buf), n - result.size()));
    if (got <= 0)
      break;
    result.append(buf, static_cast<size_t>(got));
  }
  return result;
}

/// Whether the peer of `fd` closes it within `t` (what it sent first is
/// read and dropped).
bool closed_within(int fd, milliseconds t) {
  auto deadline = in(t);
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(
      deadline - cs::clock_type::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0
        || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char buf[256];
    auto got = ::read(fd, buf, sizeof(buf));
    if (got == 0)
      return true;
    if (got < 0)
      return false;
  }
}

TEST(cluster_secret, the_same_secret_passes_both_ways) {
  pair p;
  auto hub = serve(p.hub, secret_a, milliseconds{5000});
  EXPECT_EQ(why_of(cs::run_client(p.edge, secret_a, in(milliseconds{5000}))),
            "");
  EXPECT_EQ(hub.get(), "");
}

TEST(cluster_secret, the_edge_reads_nothing_beyond_the_challenge) {
  // BASP starts right after the hub's proof, maybe in the same segment.
  pair p;
  auto hub = std::async(std::launch::async, [&] {
    auto why = why_of(cs::run_server(p.hub, secret_a, in(milliseconds{5000})));
    std::string basp = "BASP";
    EXPECT_EQ(::write(p.hub, basp.data(), basp.size()), 4);
    return why;
  });
  EXPECT_EQ(why_of(cs::run_client(p.edge, secret_a, in(milliseconds{5000}))),
            "");
  EXPECT_EQ(hub.get(), "");
  EXPECT_EQ(read_some(p.edge, 4, milliseconds{5000}), "BASP");
}

TEST(cluster_secret, an_edge_with_another_secret_is_refused) {
  pair p;
  auto hub = std::async(std::launch::async, [&] {
    auto why = why_of(cs::run_server(p.hub, secret_a, in(milliseconds{5000})));
    p.close_hub(); // what the hub does with a peer that failed
    return why;
  });
  auto edge = why_of(cs::run_client(p.edge, secret_b, in(milliseconds{5000})));
  auto why = hub.get();
  EXPECT_NE(why.find("wrong secret"), std::string::npos) << why;
  EXPECT_NE(edge.find("the hub refused our secret"), std::string::npos) << edge;
}

TEST(cluster_secret, a_hub_that_does_not_know_the_secret_is_refused) {
  // A fake hub that sends a challenge and answers any proof with one made
  // with another secret (a real hub would have refused first).
  pair p;
  auto fake = std::async(std::launch::async, [&] {
    std::string hello{cs::magic};
    hello.append(cs::nonce_size, 'n');
    EXPECT_EQ(::write(p.hub, hello.data(), hello.size()),
              static_cast<ssize_t>(hello.size()));
    auto answer = read_some(p.hub, cs::nonce_size + cs::mac_size,
                            milliseconds{5000});
    EXPECT_EQ(answer.size(), cs::nonce_size + cs::mac_size);
    std::string proof(cs::mac_size, 'p');
    EXPECT_EQ(::write(p.hub, proof.data(), proof.size()),
              static_cast<ssize_t>(proof.size()));
  });
  auto edge = why_of(cs::run_client(p.edge, secret_a, in(milliseconds{5000})));
  fake.get();
  EXPECT_NE(edge.find("the hub's proof is wrong"), std::string::npos) << edge;
}

TEST(cluster_secret, a_hub_without_the_challenge_is_named) {
  // What an edge sees from a hub that speaks BASP at once.
  pair p;
  std::string basp(64, '\x01');
  ASSERT_EQ(::write(p.hub, basp.data(), basp.size()), 64);
  auto edge = why_of(cs::run_client(p.edge, secret_a, in(milliseconds{5000})));
  EXPECT_NE(edge.find("did not send the cluster-secret challenge"),
            std::string::npos)
    << edge;
}

TEST(cluster_secret, garbage_and_truncated_answers_are_refused) {
  {
    pair p;
    auto hub = serve(p.hub, secret_a, milliseconds{5000});
    EXPECT_EQ(read_some(p.edge, cs::magic.size() + cs::nonce_size,
                        milliseconds{5000})
                .substr(0, cs::magic.size()),
              cs::magic);
    std::string garbage(cs::nonce_size + cs::mac_size, 'g');
    ASSERT_EQ(::write(p.edge, garbage.data(), garbage.size()),
              static_cast<ssize_t>(garbage.size()));
    auto why = hub.get();
    EXPECT_NE(why.find("wrong secret"), std::string::npos) << why;
  }
  {
    pair p;
    auto hub = serve(p.hub, secret_a, milliseconds{5000});
    read_some(p.edge, cs::magic.size() + cs::nonce_size, milliseconds{5000});
    std::string part(10, 'g');
    ASSERT_EQ(::write(p.edge, part.data(), part.size()), 10);
    p.close_edge();
    auto why = hub.get();
    EXPECT_NE(why.find("after 10 of 64 bytes"), std::string::npos) << why;
  }
  {
    // A hub that stops in the middle of its challenge.
    pair p;
    ASSERT_EQ(::write(p.hub, "MMCS1abc", 8), 8);
    p.close_hub();
    auto edge =
      why_of(cs::run_client(p.edge, secret_a, in(milliseconds{5000})));
    EXPECT_NE(edge.find("in the middle of its challenge"), std::string::npos)
      << edge;
  }
}

TEST(cluster_secret, stalled_peers_time_out) {
  {
    pair p;
    auto start = cs::clock_type::now();
    auto why = why_of(cs::run_server(p.hub, secret_a, in(milliseconds{200})));
    EXPECT_NE(why.find("did not complete the challenge in time"),
              std::string::npos)
      << why;
    EXPECT_GE(cs::clock_type::now() - start, milliseconds{200});
  }
  {
    pair p;
    auto why = why_of(cs::run_client(p.edge, secret_a, in(milliseconds{200})));
    EXPECT_NE(why.find("no challenge from the hub in time"), std::string::npos)
      << why;
  }
}

/// The outcome of one challenge on `cs::server`.
struct outcome {
  int fd = -1;
  std::string peer;
  std::string error;
};

TEST(cluster_secret, the_server_thread_serves_one_peer_while_another_stalls) {
  cs::server srv{secret_a, milliseconds{3000}, 8, 8};
  pair stall;
  pair good;
  std::promise<outcome> stalled_done;
  std::promise<outcome> good_done;
  srv.add(stall.hub,
          [&](int fd, const std::string& peer, const caf::error& err) {
            stalled_done.set_value({fd, peer, why_of(err)});
          });
  stall.hub = -1; // the server owns it now
  srv.add(good.hub,
          [&](int fd, const std::string& peer, const caf::error& err) {
            good_done.set_value({fd, peer, why_of(err)});
          });
  good.hub = -1;
  auto stalled_future = stalled_done.get_future();
  auto good_future = good_done.get_future();
  EXPECT_EQ(why_of(cs::run_client(good.edge, secret_a, in(milliseconds{5000}))),
            "");
  ASSERT_EQ(good_future.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  // The good peer did not wait for the stalled one's deadline.
  EXPECT_EQ(stalled_future.wait_for(milliseconds{0}),
            std::future_status::timeout);
  EXPECT_EQ(srv.pending(), 1u);
  auto ok = good_future.get();
  EXPECT_GE(ok.fd, 0);
  EXPECT_EQ(ok.error, "");
  // The verified socket is the caller's, ready for BASP.
  ASSERT_EQ(::write(ok.fd, "BASP", 4), 4);
  EXPECT_EQ(read_some(good.edge, 4, milliseconds{5000}), "BASP");
  ::close(ok.fd);
  ASSERT_EQ(stalled_future.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  auto bad = stalled_future.get();
  EXPECT_EQ(bad.fd, -1);
  EXPECT_NE(bad.error.find("within 3000 ms"), std::string::npos) << bad.error;
  // The server closed the stalled socket: its peer reads the hello, then EOF.
  auto hello = read_some(stall.edge, 100, milliseconds{5000});
  EXPECT_EQ(hello.size(), cs::magic.size() + cs::nonce_size);
  EXPECT_TRUE(closed_within(stall.edge, milliseconds{5000}));
  EXPECT_EQ(srv.pending(), 0u);
}

TEST(cluster_secret, the_server_drops_peers_beyond_its_bounds) {
  // In all: one at a time here.
  cs::server srv{secret_a, milliseconds{5000}, 1, 8};
  pair first;
  pair second;
  std::promise<outcome> second_done;
  std::atomic<bool> first_called{false};
  srv.add(first.hub, [&](int fd, const std::string&, const caf::error&) {
    first_called = true;
    if (fd >= 0)
      ::close(fd);
  });
  first.hub = -1;
  srv.add(second.hub,
          [&](int fd, const std::string& peer, const caf::error& err) {
            second_done.set_value({fd, peer, why_of(err)});
          });
  second.hub = -1;
  auto f = second_done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto x = f.get();
  EXPECT_EQ(x.fd, -1);
  EXPECT_NE(x.error.find("too many challenges under way (1)"),
            std::string::npos)
    << x.error;
  EXPECT_EQ(srv.pending(), 1u);
  // Stopping closes the one under way without calling it back (it may
  // have sent its challenge first).
  srv.stop();
  EXPECT_TRUE(closed_within(first.edge, milliseconds{5000}));
  EXPECT_FALSE(first_called);
  // Per host: a socketpair's peer has no address, so they are all one
  // host ("unknown") here.
  cs::server per_host{secret_a, milliseconds{5000}, 8, 1};
  pair a;
  pair b;
  std::promise<outcome> b_done;
  per_host.add(a.hub, [](int fd, const std::string&, const caf::error&) {
    if (fd >= 0)
      ::close(fd);
  });
  a.hub = -1;
  per_host.add(b.hub,
               [&](int fd, const std::string& peer, const caf::error& err) {
                 b_done.set_value({fd, peer, why_of(err)});
               });
  b.hub = -1;
  auto fb = b_done.get_future();
  ASSERT_EQ(fb.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto y = fb.get();
  EXPECT_EQ(y.peer, "unknown");
  EXPECT_NE(y.error.find("too many challenges under way from unknown (1)"),
            std::string::npos)
    << y.error;
  // Once the first is done, its host may start another.
  EXPECT_EQ(why_of(cs::run_client(a.edge, secret_a, in(milliseconds{5000}))),
            "");
  ASSERT_TRUE(closed_within(a.edge, milliseconds{5000}));
  pair c;
  std::promise<outcome> c_done;
  per_host.add(c.hub,
               [&](int fd, const std::string& peer, const caf::error& err) {
                 c_done.set_value({fd, peer, why_of(err)});
               });
  c.hub = -1;
  EXPECT_EQ(why_of(cs::run_client(c.edge, secret_a, in(milliseconds{5000}))),
            "");
  auto fc = c_done.get_future();
  ASSERT_EQ(fc.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto z = fc.get();
  EXPECT_GE(z.fd, 0) << z.error;
  ::close(z.fd);
}

TEST(cluster_secret, peers_are_named_by_address) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto connected = cs::connect_tcp("127.0.0.1", ntohs(addr.sin_port),
                                   in(milliseconds{5000}));
  ASSERT_TRUE(connected) << mm::text_of(connected.error());
  auto cfd = *connected;
  sockaddr_in local{};
  socklen_t llen = sizeof(local);
  ::getsockname(cfd, reinterpret_cast<sockaddr*>(&local), &llen);
  int afd = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(afd, 0);
  EXPECT_EQ(cs::peer_of(afd),
            "127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
  EXPECT_EQ(cs::host_of(cs::peer_of(afd)), "127.0.0.1");
  EXPECT_EQ(cs::host_of("[::1]:7000"), "[::1]");
  ::close(afd);
  ::close(cfd);
  // A closed port is refused with the system's words.
  auto port = ntohs(addr.sin_port);
  ::close(lfd);
  auto refused = cs::connect_tcp("127.0.0.1", port, in(milliseconds{5000}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), caf::sec::cannot_connect_to_node);
  EXPECT_EQ(mm::text_of(refused.error()), "Connection refused");
}

TEST(cluster_secret, the_secret_file_needs_32_bytes_and_loses_its_newline) {
  char path[] = "/tmp/mm-cluster-secret-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto write_file = [&](const std::string& text) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << text;
  };
  /// The secret read from `path`, or "error: TEXT" (checked to be
  /// ec::bad_config).
  auto read = [&path] {
    auto x = cs::read_secret_file(path);
    if (x)
      return *x;
    EXPECT_EQ(mm::code_of(x.error()), mm::ec::bad_config);
    return "error: " + mm::text_of(x.error());
  };
  write_file(std::string(32, 'x') + "\n");
  EXPECT_EQ(read(), std::string(32, 'x'));
  write_file(std::string(32, 'x') + "\r\n");
  EXPECT_EQ(read(), std::string(32, 'x'));
  // Only one trailing newline goes; inner bytes stay.
  write_file(std::string(16, 'x') + "\n" + std::string(16, 'y') + "\n\n");
  EXPECT_EQ(read().size(), 34u);
  write_file(std::string(31, 'x') + "\n");
  EXPECT_EQ(read(), "error: \"" + std::string{path}
                      + "\" holds 31 bytes; the secret needs at least 32 "
                        "(make one with: openssl rand -hex 32 > FILE)");
  std::remove(path);
  EXPECT_EQ(read(), "error: cannot read \"" + std::string{path} + "\"");
}

} // namespace

// End-to-end: the cluster shared secret (--cluster-secret-file,
// docs/security.md). Real redis-server and mm-server processes on loopback:
// a hub and edges with the same secret deliver ticks; an edge with another
// secret, an edge without one, a raw TCP peer that stalls or sends garbage
// and a CAF node get nothing, are logged by the hub with their address and
// do not hold up a good edge; the hub returns to idle.

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "actors/node.hpp"

namespace mm::test {
namespace {

/// The hub gives each peer this long for the challenge.
constexpr int challenge_ms = 5000;

std::vector<std::string> hub_flags(const std::string& secret_file) {
  return {"--heartbeat-interval-ms",
          "200",
          "--connection-timeout-ms",
          std::to_string(challenge_ms),
          "--linger-ms",
          "300",
          "--attach-timeout-ms",
          "1000",
          "--role",
          "hub",
          "--cluster-listen",
          "127.0.0.1:0",
          "--cluster-secret-file",
          secret_file};
}

std::vector<std::string> edge_flags(const std::string& hub,
                                    const std::string& secret_file) {
  std::vector<std::string> flags{"--heartbeat-interval-ms",
                                 "200",
                                 "--connection-timeout-ms",
                                 "1000",
                                 "--linger-ms",
                                 "300",
                                 "--attach-timeout-ms",
                                 "1000",
                                 "--role",
                                 "edge",
                                 "--hub-retry-max-ms",
                                 "500",
                                 "--hub",
                                 hub};
  if (!secret_file.empty())
    flags.insert(flags.end(), {"--cluster-secret-file", secret_file});
  return flags;
}

/// A directory of files for one test, removed with it.
class scratch {
public:
  scratch() {
    char name[] = "/tmp/mm-cluster-secret-XXXXXX";
    auto* dir = ::mkdtemp(name);
    if (dir == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
  }
  ~scratch() {
    for (auto& f : files_)
      std::remove(f.c_str());
    ::rmdir(dir_.c_str());
  }
  /// Writes `text` to a new file `name`; returns its path.
  std::string file(const std::string& name, const std::string& text) {
    auto path = dir_ + "/" + name;
    std::ofstream{path, std::ios::binary} << text;
    files_.push_back(path);
    return path;
  }
  /// A path for a log file, removed with the directory.
  std::string log(const std::string& name) {
    auto path = dir_ + "/" + name;
    files_.push_back(path);
    return path;
  }

private:
  std::string dir_;
  std::vector<std::string> files_;
};

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

bool hub_connected(const server_process& edge) {
  return shell_json(edge, "nodes").find("\"state\":\"connected\"")
         != std::string::npos;
}

pb::SubscribeRequest subscribe_to(const std::string& ticker) {
  pb::SubscribeRequest req;
  req.add_tickers(ticker);
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  return req;
}

size_t open_fds(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/fd";
  size_t n = 0;
  if (auto* dir = ::opendir(path.c_str())) {
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
  }
  return n;
}

/// A raw TCP connection to `address` ("HOST:PORT" on 127.0.0.1).
int raw_connect(const std::string& address) {
  auto port = std::stoi(address.substr(address.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads from `fd` until the peer closes it (true) or `timeout` passes
/// (false); `got` counts the bytes read.
bool wait_closed(int fd, milliseconds timeout, size_t& got) {
  auto deadline = clock_type::now() + timeout;
  got = 0;
  for (;;) {
    auto left =
      std::chrono::duration_cast<milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[256];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return true; // EOF or reset: dropped
    got += static_cast<size_t>(n);
  }
}

TEST(cluster_secret, edges_with_the_secret_deliver_ticks) {
  scratch files;
  auto secret = files.file("secret", std::string(64, 'k') + "\n");
  redis_process redis;
  server_process hub{redis, hub_flags(secret)};
  server_process edge{redis, edge_flags(hub.cluster_address(), secret)};
  ASSERT_TRUE(wait_until([&] { return hub_connected(edge); }))
    << shell_json(edge, "nodes");
  auto stub = make_stub(edge.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to("SEC"));
  ASSERT_TRUE(wait_until([&] {
    return json_int(shell_json(hub, "ticker SEC"), "remote_subscribers") == 1;
  }));
  publisher pub{redis.port()};
  pub.publish_tick("SEC", 7.25, 3, 1700000000000000000);
  ASSERT_TRUE(s->wait_count("SEC", 1));
  EXPECT_EQ(s->received().front().updates(0).price(), 7.25);
  // The hub names the edge by its real address in `nodes`.
  EXPECT_NE(shell_json(hub, "nodes").find("\"role\":\"edge\""),
            std::string::npos);
}

TEST(cluster_secret, an_edge_with_another_secret_or_none_gets_nothing) {
  scratch files;
  auto secret = files.file("secret", std::string(64, 'k') + "\n");
  auto other = files.file("other", std::string(64, 'x') + "\n");
  auto hub_log = files.log("hub.log");
  auto edge_log = files.log("edge.log");
  redis_process redis;
  server_process hub{redis, hub_flags(secret), {}, hub_log};
  {
    server_process wrong{
      redis, edge_flags(hub.cluster_address(), other), {}, edge_log};
    auto stub = make_stub(wrong.grpc_address());
    auto s = stream_reader::subscribe(*stub, subscribe_to("SEC"));
    // The hub refuses the peer and names its address; the edge says that
    // the hub refused its secret.
    std::regex refused{"refused cluster peer 127\\.0\\.0\\.1:[0-9]+ "
                       "\\(--cluster-secret-file\\): wrong secret"};
    EXPECT_TRUE(wait_until(
      [&] { return std::regex_search(read_file(hub_log), refused); }))
      << read_file(hub_log);
    EXPECT_TRUE(wait_until([&] {
      auto log = read_file(edge_log);
      return log.find("cannot reach hub " + hub.cluster_address())
               != std::string::npos
             && log.find("the hub refused our secret") != std::string::npos;
    }))
      << read_file(edge_log);
    // Nothing of the edge reached the hub: no broadcaster, no edge in
    // `nodes`; the client's stream stays open with nothing.
    publisher pub{redis.port()};
    pub.publish_tick("SEC", 1, 1, 1700000000000000000);
    EXPECT_EQ(json_int(shell_json(hub, "stats"), "broadcasters"), 0);
    EXPECT_EQ(shell_json(hub, "nodes").find("\"role\":\"edge\""),
              std::string::npos)
      << shell_json(hub, "nodes");
    EXPECT_FALSE(hub_connected(wrong));
    EXPECT_FALSE(s->finished());
    EXPECT_EQ(s->received().size(), 0u);
  }
  // An edge without a secret is not let in either: CAF takes the
  // challenge for BASP and its answer is no proof. Only the log lines
  // after this point count (the edge above is gone).
  auto before = read_file(hub_log).size();
  auto plain_log = files.log("plain.log");
  server_process plain{
    redis, edge_flags(hub.cluster_address(), ""), {}, plain_log};
  std::regex dropped{"refused cluster peer 127\\.0\\.0\\.1:[0-9]+ "
                     "\\(--cluster-secret-file\\): "};
  EXPECT_TRUE(wait_until(
    [&] {
      return std::regex_search(read_file(hub_log).substr(before), dropped);
    },
    milliseconds{challenge_ms + 5000}))
    << read_file(hub_log).substr(before);
  EXPECT_FALSE(hub_connected(plain)) << shell_json(plain, "nodes");
  EXPECT_EQ(shell_json(hub, "nodes").find("\"role\":\"edge\""),
            std::string::npos);
}

TEST(cluster_secret, raw_peers_are_dropped_and_hold_up_no_edge) {
  scratch files;
  auto secret = files.file("secret", std::string(64, 'k') + "\n");
  auto hub_log = files.log("hub.log");
  redis_process redis;
  server_process hub{redis, hub_flags(secret), {}, hub_log};
  admin_client admin{hub.admin_address()};
  auto baseline = admin.stats().actors_running;
  auto baseline_fds = open_fds(hub.pid());
  // One peer stalls, one sends what looks like BASP; both are on their way
  // while a good edge connects.
  int stall = raw_connect(hub.cluster_address());
  int garbage = raw_connect(hub.cluster_address());
  ASSERT_GE(stall, 0);
  ASSERT_GE(garbage, 0);
  std::string junk(200, '\0');
  for (size_t i = 0; i < junk.size(); ++i)
    junk[i] = static_cast<char>(i * 7);
  ASSERT_EQ(::write(garbage, junk.data(), junk.size()),
            static_cast<ssize_t>(junk.size()));
  auto start = clock_type::now();
  {
    server_process edge{redis, edge_flags(hub.cluster_address(), secret)};
    ASSERT_TRUE(wait_until([&] { return hub_connected(edge); },
                           milliseconds{challenge_ms}))
      << shell_json(edge, "nodes");
    // Connected while the stalled peer still holds its challenge.
    EXPECT_LT(clock_type::now() - start, milliseconds{challenge_ms});
    auto stub = make_stub(edge.grpc_address());
    auto s = stream_reader::subscribe(*stub, subscribe_to("RAW"));
    ASSERT_TRUE(wait_until([&] {
      return json_int(shell_json(hub, "ticker RAW"), "remote_subscribers") == 1;
    }));
    publisher pub{redis.port()};
    pub.publish_tick("RAW", 2, 1, 1700000000000000000);
    EXPECT_TRUE(s->wait_count("RAW", 1));
    // The garbage is refused at once (it is no proof); the stalled peer
    // when its time is up. Each saw the challenge and nothing else.
    size_t got = 0;
    EXPECT_TRUE(wait_closed(garbage, milliseconds{2000}, got));
    EXPECT_EQ(got, 37u);
    EXPECT_TRUE(wait_closed(stall, milliseconds{challenge_ms + 3000}, got));
    EXPECT_EQ(got, 37u);
  }
  ::close(stall);
  ::close(garbage);
  auto log = read_file(hub_log);
  EXPECT_NE(log.find("wrong secret"), std::string::npos) << log;
  // The edge is gone: the hub forgets it, its broadcaster lingers out, and
  // the hub is back at its idle actors and sockets.
  node_stats last;
  bool idle = wait_until(
    [&] {
      last = admin.stats();
      return last.idle() && last.actors_running == baseline
             && open_fds(hub.pid()) <= baseline_fds + 1;
    },
    milliseconds{10000});
  // (+1: the challenge thread's wake-up descriptor, made at the first
  // connection and kept.)
  EXPECT_TRUE(idle) << last.describe() << " baseline actors " << baseline
                    << " fds " << open_fds(hub.pid()) << " baseline fds "
                    << baseline_fds;
  EXPECT_TRUE(redis_channels(redis.port(), "prices:*").empty());
}

TEST(cluster_secret, a_caf_node_without_the_secret_gets_no_actor) {
  scratch files;
  auto secret = files.file("secret", std::string(64, 'k') + "\n");
  auto hub_log = files.log("hub.log");
  redis_process redis;
  server_process hub{redis, hub_flags(secret), {}, hub_log};
  caf::actor_system_config cfg;
  mm::configure(cfg);
  caf::actor_system sys{cfg};
  auto address = hub.cluster_address();
  auto port =
    static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  auto start = clock_type::now();
  auto res = sys.middleman().remote_actor("127.0.0.1", port);
  EXPECT_FALSE(res) << "a CAF node without the secret got the directory";
  // Dropped at once (CAF takes the challenge for a bad BASP header and
  // hangs up), or when the challenge timed out at the latest.
  EXPECT_LT(clock_type::now() - start, milliseconds{challenge_ms + 3000});
  EXPECT_TRUE(wait_until([&] {
    return read_file(hub_log).find("refused cluster peer 127.0.0.1:")
           != std::string::npos;
  }))
    << read_file(hub_log);
  EXPECT_EQ(shell_json(hub, "nodes").find("\"role\":\"edge\""),
            std::string::npos);
}

} // namespace
} // namespace mm::test

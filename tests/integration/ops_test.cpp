// End-to-end: the operator's side of a node (issue 13). /metrics scraped
// from a live node under a small load (real gRPC clients, real Redis
// publishing ticks) moves as the load says and passes `promtool check
// metrics`; /healthz, the gRPC health service and `stats` tell the truth
// while Redis (on an edge: every hub) is away; reflection lists the API.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <sstream>

#include <sys/wait.h>

#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"
#include "tests/integration/tcp_proxy.hpp"

namespace mm::test {
namespace {

// --- HTTP --------------------------------------------------------------------

struct http_answer {
  int status = -1;
  std::string body;
  std::string content_type;
};

http_answer http_get(const std::string& address, const std::string& path) {
  auto colon = address.rfind(':');
  httplib::Client cli{address.substr(0, colon),
                      std::stoi(address.substr(colon + 1))};
  cli.set_connection_timeout(std::chrono::seconds{5});
  cli.set_read_timeout(std::chrono::seconds{5});
  http_answer x;
  if (auto res = cli.Get(path.c_str())) {
    x.status = res->status;
    x.body = res->body;
    x.content_type = res->get_header_value("Content-Type");
  }
  return x;
}

/// Samples of a scrape by their full name with labels, as written.
using samples = std::map<std::string, double>;

samples parse_metrics(const std::string& text) {
  samples result;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto blank = line.rfind(' ');
    result[line.substr(0, blank)] = std::stod(line.substr(blank + 1));
  }
  return result;
}

double value(const samples& xs, const std::string& key) {
  auto i = xs.find(key);
  return i == xs.end() ? -1 : i->second;
}

/// Reads `text` with `promtool check metrics`; returns its exit status
/// and sets `output`. Fails the test when promtool is missing: scripts/setup
/// installs it (Debian package prometheus).
int promtool_check(const std::string& text, std::string& output) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "promtool not found: run scripts/setup (it installs "
                     "Debian's prometheus package, which ships promtool)";
    return -1;
  }
  char path[] = "/tmp/mm-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream{path} << text;
  auto cmd = std::string{"promtool check metrics < "} + path + " 2>&1";
  auto* pipe = ::popen(cmd.c_str(), "r");
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    output.append(buf, n);
  int status = ::pclose(pipe);
  ::unlink(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// --- gRPC health and reflection, hand-encoded (no generated stubs)
// ------------

std::string serialize(const grpc::ByteBuffer& buf) {
  std::vector<grpc::Slice> slices;
  std::string result;
  if (buf.Dump(&slices).ok())
    for (auto& s : slices)
      result.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return result;
}

grpc::ByteBuffer byte_buffer(const std::string& bytes) {
  grpc::Slice slice{bytes};
  return grpc::ByteBuffer{&slice, 1};
}

/// A length-delimited protobuf field.
std::string pb_field(int number, const std::string& bytes) {
  std::string out;
  out += static_cast<char>((number << 3) | 2);
  out += static_cast<char>(bytes.size());
  return out + bytes;
}

/// Reads the fields of a protobuf message: (number, bytes or varint).
std::vector<std::pair<int, std::string>> pb_fields(const std::string& x) {
  std::vector<std::pair<int, std::string>> result;
  size_t i = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0; i < x.size(); shift += 7) {
      auto b = static_cast<uint8_t>(x[i++]);
      v |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0)
        break;
    }
    return v;
  };
  while (i < x.size()) {
    auto tag = varint();
    auto number = static_cast<int>(tag >> 3);
    if ((tag & 7) == 0) {
      result.emplace_back(number, std::to_string(varint()));
    } else if ((tag & 7) == 2) {
      auto len = varint();
      result.emplace_back(number, x.substr(i, len));
      i += len;
    } else {
      break; // not used by these messages
    }
  }
  return result;
}

/// grpc.health.v1.Health/Check for `service`: "SERVING", "NOT_SERVING",
/// "NOT_FOUND" (an unknown service) or the failed call's "CODE: message".
std::string health_check(const std::string& target,
                         const std::string& service) {
  auto channel = grpc::CreateChannel(target,
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub{channel};
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(milliseconds{5000}));
  auto req = byte_buffer(service.empty() ? "" : pb_field(1, service));
  grpc::ByteBuffer resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions{},
                 &req, &resp,
                 [&done](grpc::Status st) { done.set_value(std::move(st)); });
  auto status = done.get_future().get();
  if (status.error_code() == grpc::StatusCode::NOT_FOUND)
    return "NOT_FOUND";
  if (!status.ok())
    return describe(status);
  std::string answer = "UNKNOWN";
  for (auto& [number, v] : pb_fields(serialize(resp)))
    if (number == 1)
      answer = v == "1" ? "SERVING" : v == "2" ? "NOT_SERVING" : v;
  return answer;
}

/// The services server reflection lists (ServerReflectionInfo, a
/// bidirectional stream, with one list_services request).
std::vector<std::string> reflected_services(const std::string& target) {
  auto channel = grpc::CreateChannel(target,
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub{channel};
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(milliseconds{5000}));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
    &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(expected);
  };
  std::vector<std::string> result;
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1))
    return result;
  // ServerReflectionRequest{list_services = 7: "*"}
  call->WriteLast(byte_buffer(pb_field(7, "*")), grpc::WriteOptions{},
                  reinterpret_cast<void*>(2));
  if (!step(2))
    return result;
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  if (step(3)) {
    // ServerReflectionResponse{list_services_response = 6:
    //   ListServiceResponse{service = 1: ServiceResponse{name = 1}}}
    for (auto& [f, list] : pb_fields(serialize(resp)))
      if (f == 6)
        for (auto& [g, svc] : pb_fields(list))
          if (g == 1)
            for (auto& [h, name] : pb_fields(svc))
              if (h == 1)
                result.push_back(name);
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok))
    ; // drain
  std::sort(result.begin(), result.end());
  return result;
}

/// grpc.health.v1.Health/Watch for `service` (a server stream), read on
/// its own thread: every status the server sent, in order, and how the
/// stream ended.
class health_watcher {
public:
  health_watcher(const std::string& target, const std::string& service) {
    // Never longer than the test: a hung stream fails it, it does not hang.
    ctx_.set_deadline(deadline_in(scaled_wait(milliseconds{60000})));
    thread_ = std::thread{[this, target, service] { run(target, service); }};
  }

  ~health_watcher() {
    ctx_.TryCancel();
    thread_.join();
  }

  health_watcher(const health_watcher&) = delete;
  health_watcher& operator=(const health_watcher&) = delete;

  /// Waits until the last status seen is `status`.
  bool wait_status(const std::string& status,
                   milliseconds timeout = default_wait) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] {
      return !seen_.empty() && seen_.back() == status;
    });
  }

  /// Waits until the stream ended; returns its status, or nothing.
  std::optional<grpc::Status> wait_end(milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, timeout, [&] { return end_.has_value(); });
    return end_;
  }

  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

private:
  void run(const std::string& target, const std::string& service) {
    auto channel = grpc::CreateChannel(target,
                                       grpc::InsecureChannelCredentials());
    grpc::GenericStub stub{channel};
    grpc::CompletionQueue cq;
    auto call = stub.PrepareCall(&ctx_, "/grpc.health.v1.Health/Watch", &cq);
    void* tag = nullptr;
    bool ok = false;
    auto step = [&](intptr_t expected) {
      return cq.Next(&tag, &ok) && ok
             && tag == reinterpret_cast<void*>(expected);
    };
    call->StartCall(reinterpret_cast<void*>(1));
    // HealthCheckRequest{service = 1}
    if (step(1)) {
      call->WriteLast(byte_buffer(service.empty() ? "" : pb_field(1, service)),
                      grpc::WriteOptions{}, reinterpret_cast<void*>(2));
      if (step(2)) {
        grpc::ByteBuffer resp;
        for (;;) {
          call->Read(&resp, reinterpret_cast<void*>(3));
          if (!step(3))
            break;
          // HealthCheckResponse{status = 1}: 1 SERVING, 2 NOT_SERVING.
          std::string status = "UNKNOWN";
          for (auto& [number, v] : pb_fields(serialize(resp)))
            if (number == 1)
              status = v == "1" ? "SERVING" : v == "2" ? "NOT_SERVING" : v;
          std::lock_guard<std::mutex> guard{mtx_};
          seen_.push_back(status);
          cv_.notify_all();
        }
      }
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok))
      ; // drain
    std::lock_guard<std::mutex> guard{mtx_};
    end_ = status;
    cv_.notify_all();
  }

  grpc::ClientContext ctx_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
  std::optional<grpc::Status> end_;
  std::thread thread_;
};

/// A node with /metrics on a free loopback port.
struct metered {
  explicit metered(const redis_process& redis,
                   std::vector<std::string> flags = {})
    : port(pick_free_port()),
      address("127.0.0.1:" + std::to_string(port)),
      server(redis, with_metrics(std::move(flags), address)) {
    // nop
  }

  static std::vector<std::string> with_metrics(std::vector<std::string> flags,
                                               const std::string& address) {
    flags.insert(flags.end(), {"--metrics-listen", address});
    return flags;
  }

  samples scrape() const {
    auto res = http_get(address, "/metrics");
    EXPECT_EQ(res.status, 200) << res.body;
    return parse_metrics(res.body);
  }

  uint16_t port;
  std::string address;
  server_process server;
};

constexpr const char* ended_stop =
  "marketmonitor_sessions_ended_total{reason=\"stop\"}";
constexpr const char* ended_cancel =
  "marketmonitor_sessions_ended_total{reason=\"cancel\"}";
constexpr const char* ended_deadline =
  "marketmonitor_sessions_ended_total{reason=\"deadline\"}";
constexpr const char* ended_peer_dead =
  "marketmonitor_sessions_ended_total{reason=\"peer_dead\"}";

std::string handled(const std::string& method, const std::string& code) {
  return "marketmonitor_grpc_server_handled_total{grpc_service=\"marketmonitor"
         ".v1.MarketMonitor\",grpc_method=\""
         + method + "\",grpc_code=\"" + code + "\"}";
}

// --- the tests ---------------------------------------------------------------

TEST(ops, metrics_move_with_the_load_and_pass_promtool) {
  redis_process redis;
  metered node{redis, {"--linger-ms", "200"}};
  auto before = node.scrape();
  EXPECT_EQ(value(before, "marketmonitor_sessions"), 0);
  EXPECT_EQ(value(before, "marketmonitor_health_serving"), 1);
  ASSERT_TRUE(wait_until(
    [&] { return value(node.scrape(), "marketmonitor_redis_up") == 1; }));
  // The load: two streaming clients (every tick: DELIVERY_MODE_ALL), one
  // session started and stopped, a GetLastPrices, and a malformed tick.
  auto stub = make_stub(node.server.grpc_address());
  std::vector<std::unique_ptr<stream_reader>> readers;
  for (auto* ticker : {"OPSA", "OPSB"}) {
    pb::SubscribeRequest req;
    req.add_tickers(ticker);
    req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
    readers.push_back(stream_reader::subscribe(*stub, req));
  }
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("OPSA"));
  ASSERT_TRUE(pub.wait_subscribed("OPSB"));
  constexpr int ticks = 20;
  for (int i = 1; i <= ticks; ++i) {
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    pub.publish_tick("OPSA", 100 + i, i, now);
    pub.publish_tick("OPSB", 200 + i, i, now);
  }
  pub.publish("OPSA", "{\"price\": -1}");
  ASSERT_TRUE(readers[0]->wait_count("OPSA", ticks));
  ASSERT_TRUE(readers[1]->wait_count("OPSB", ticks));
  pb::StartPriceMonitoringResponse started;
  ASSERT_TRUE(call_start(*stub, {"OPSC"}, {}, &started).ok());
  ASSERT_TRUE(call_stop(*stub, started.session_id()).ok());
  pb::GetLastPricesResponse last;
  ASSERT_TRUE(call_last(*stub, {"OPSA"}, &last).ok());
  samples after;
  ASSERT_TRUE(wait_until([&] {
    after = node.scrape();
    return value(after, ended_stop) >= 1
           && value(after, "marketmonitor_ticks_malformed_total") >= 1;
  }));
  auto delta = [&](const std::string& key) {
    return value(after, key) - std::max(0.0, value(before, key));
  };
  EXPECT_EQ(value(after, "marketmonitor_sessions"), 2);
  EXPECT_EQ(value(after, "marketmonitor_streams"), 2);
  EXPECT_GE(value(after, "marketmonitor_broadcasters"), 2);
  EXPECT_GE(value(after, "marketmonitor_redis_subscriptions"), 2);
  EXPECT_EQ(delta("marketmonitor_sessions_started_total"), 3);
  // Malformed ticks count apart.
  EXPECT_GE(delta("marketmonitor_ticks_received_total"), 2 * ticks);
  EXPECT_EQ(delta("marketmonitor_ticks_malformed_total"), 1);
  EXPECT_GE(delta("marketmonitor_updates_delivered_total"), 2 * ticks);
  EXPECT_GE(delta("marketmonitor_batches_sent_total"), 2);
  // One latency observation per update delivered, one batch-size
  // observation per batch.
  EXPECT_EQ(delta("marketmonitor_tick_to_write_latency_seconds_count"),
            delta("marketmonitor_updates_delivered_total"));
  EXPECT_GT(delta("marketmonitor_tick_to_write_latency_seconds_sum"), 0);
  EXPECT_EQ(delta("marketmonitor_batch_size_updates_count"),
            delta("marketmonitor_batches_sent_total"));
  EXPECT_EQ(delta("marketmonitor_batch_size_updates_sum"),
            delta("marketmonitor_updates_delivered_total"));
  EXPECT_EQ(value(after, handled("StartPriceMonitoring", "OK")), 1);
  EXPECT_EQ(value(after, handled("StopPriceMonitoring", "OK")), 1);
  EXPECT_EQ(value(after, handled("GetLastPrices", "OK")), 1);
  EXPECT_EQ(value(after, ended_stop), 1);
  EXPECT_EQ(value(after, "marketmonitor_redis_up"), 1);
  EXPECT_EQ(value(after, "marketmonitor_health_serving"), 1);
  EXPECT_GT(value(after, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(value(after, "process_open_fds"), 3);
  EXPECT_GT(value(after, "process_threads"), 2);
  EXPECT_GT(value(after, "process_cpu_seconds_total"), 0);
  EXPECT_GT(value(after, "marketmonitor_actors_running"), 3);
  // The streams end from the client side: counted as cancel, and the
  // Subscribe calls as CANCELLED.
  readers.clear();
  ASSERT_TRUE(wait_until([&] {
    after = node.scrape();
    return value(after, "marketmonitor_sessions") == 0
           && value(after, ended_cancel) == 2
           && value(after, "marketmonitor_streams") == 0;
  }))
    << "sessions " << value(after, "marketmonitor_sessions") << ", cancel "
    << value(after, ended_cancel);
  // A last malformed sample would fail here.
  auto text = http_get(node.address, "/metrics");
  EXPECT_NE(text.content_type.find("text/plain; version=0.0.4"),
            std::string::npos)
    << text.content_type;
  std::string lint;
  EXPECT_EQ(promtool_check(text.body, lint), 0) << lint << "\n" << text.body;
  EXPECT_EQ(http_get(node.address, "/nothing").status, 404);
}

TEST(ops, health_follows_redis_with_a_grace_period) {
  constexpr int grace_ms = 1500;
  redis_process redis;
  metered node{redis, {"--health-grace-ms", std::to_string(grace_ms)}};
  auto target = node.server.grpc_address();
  admin_client admin{node.server.admin_address()};
  ASSERT_TRUE(wait_until(
    [&] { return value(node.scrape(), "marketmonitor_redis_up") == 1; }));
  EXPECT_EQ(health_check(target, ""), "SERVING");
  EXPECT_EQ(health_check(target, "marketmonitor.v1.MarketMonitor"), "SERVING");
  auto unknown = health_check(target, "no.such.Service");
  EXPECT_TRUE(contains_nocase(unknown, "NOT_FOUND")) << unknown;
  auto ok = http_get(node.address, "/healthz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "SERVING\n");
  EXPECT_NE(admin.stats().json.find("\"serving\":true"), std::string::npos);

  redis.kill_now();
  auto killed = clock_type::now();
  // Within the grace period the node still serves (checked only while the
  // check itself is surely inside it).
  auto early = health_check(target, "");
  if (clock_type::now() - killed < milliseconds{grace_ms / 2}) {
    EXPECT_EQ(early, "SERVING");
  }
  ASSERT_TRUE(
    wait_until([&] { return health_check(target, "") == "NOT_SERVING"; },
               milliseconds{grace_ms + 5000}));
  EXPECT_GE(clock_type::now() - killed, milliseconds{grace_ms});
  EXPECT_EQ(health_check(target, "marketmonitor.v1.MarketMonitor"),
            "NOT_SERVING");
  auto down = http_get(node.address, "/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_TRUE(contains_nocase(down.body, "NOT_SERVING: Redis unreachable"))
    << down.body;
  auto scrape = node.scrape();
  EXPECT_EQ(value(scrape, "marketmonitor_health_serving"), 0);
  EXPECT_EQ(value(scrape, "marketmonitor_redis_up"), 0);
  auto stats = admin.stats();
  EXPECT_NE(stats.json.find("\"serving\":false"), std::string::npos)
    << stats.json;
  EXPECT_NE(stats.json.find("Redis unreachable"), std::string::npos)
    << stats.json;

  redis.restart();
  ASSERT_TRUE(wait_until([&] { return health_check(target, "") == "SERVING"; },
                         milliseconds{10000}));
  EXPECT_EQ(health_check(target, "marketmonitor.v1.MarketMonitor"), "SERVING");
  EXPECT_EQ(http_get(node.address, "/healthz").status, 200);
  scrape = node.scrape();
  EXPECT_EQ(value(scrape, "marketmonitor_health_serving"), 1);
  EXPECT_EQ(value(scrape, "marketmonitor_redis_reconnects_total"), 1);
}

TEST(ops, an_edge_is_not_serving_while_no_hub_is_reachable) {
  constexpr int grace_ms = 1000;
  redis_process redis;
  std::vector<std::string> cluster{"--heartbeat-interval-ms", "200",
                                   "--connection-timeout-ms", "1000"};
  auto hub_flags = cluster;
  hub_flags.insert(hub_flags.end(),
                   {"--role", "hub", "--cluster-listen", "127.0.0.1:0"});
  auto hub = std::make_unique<server_process>(redis, hub_flags);
  auto hub_address = hub->cluster_address();
  auto edge_flags = cluster;
  edge_flags.insert(edge_flags.end(),
                    {"--role", "edge", "--hub", hub_address,
                     "--hub-retry-max-ms", "300", "--health-grace-ms",
                     std::to_string(grace_ms)});
  metered edge{redis, edge_flags};
  auto target = edge.server.grpc_address();
  ASSERT_TRUE(wait_until([&] {
    return value(edge.scrape(), "marketmonitor_cluster_links_up") == 1;
  }));
  EXPECT_EQ(health_check(target, ""), "SERVING");
  // The hub dies without a goodbye: found by heartbeat timeout, then the
  // grace period.
  hub->send_signal(SIGKILL);
  ASSERT_TRUE(hub->wait_exit(milliseconds{5000}));
  hub.reset();
  ASSERT_TRUE(
    wait_until([&] { return health_check(target, "") == "NOT_SERVING"; },
               milliseconds{1000 + 200 + grace_ms + 5000}));
  auto down = http_get(edge.address, "/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_TRUE(contains_nocase(down.body, "no hub reachable")) << down.body;
  EXPECT_EQ(value(edge.scrape(), "marketmonitor_cluster_links_up"), 0);
  hub_flags.back() = hub_address;
  hub = std::make_unique<server_process>(redis, hub_flags);
  ASSERT_TRUE(wait_until([&] { return health_check(target, "") == "SERVING"; },
                         milliseconds{10000}));
  EXPECT_EQ(http_get(edge.address, "/healthz").status, 200);
}

TEST(ops, reflection_lists_the_services) {
  redis_process redis;
  server_process server{redis, {}};
  EXPECT_EQ(
    reflected_services(server.grpc_address()),
    (std::vector<std::string>{"grpc.health.v1.Health",
                              "grpc.reflection.v1alpha.ServerReflection",
                              "marketmonitor.v1.MarketMonitor"}));
}

TEST(ops, streams_ended_by_their_deadline_count_as_deadline) {
  redis_process redis;
  metered node{redis};
  admin_client admin{node.server.admin_address()};
  auto stub = make_stub(node.server.grpc_address());
  // Subscribe and StreamPriceUpdates with a deadline, and a client that
  // cancels long before its deadline.
  auto deadline = scaled_wait(milliseconds{2000});
  pb::SubscribeRequest req;
  req.add_tickers("DLA");
  auto subscribed = stream_reader::subscribe(*stub, req, false, deadline);
  pb::StartPriceMonitoringResponse started;
  ASSERT_TRUE(call_start(*stub, {"DLB"}, {}, &started).ok());
  auto streamed = stream_reader::stream(*stub, started.session_id(), false,
                                        deadline);
  pb::SubscribeRequest other;
  other.add_tickers("DLC");
  auto cancelled = stream_reader::subscribe(*stub, other, false,
                                            milliseconds{600000});
  publisher pub{redis.port()};
  for (auto* t : {"DLA", "DLB", "DLC"})
    ASSERT_TRUE(pub.wait_subscribed(t));
  // Every stream is attached once it delivered a tick.
  ASSERT_TRUE(wait_until([&] {
    for (auto* t : {"DLA", "DLB", "DLC"})
      pub.publish_tick(t, 10.0, 1, 1);
    return subscribed->wait_count("DLA", 1, milliseconds{50})
           && streamed->wait_count("DLB", 1, milliseconds{50})
           && cancelled->wait_count("DLC", 1, milliseconds{50});
  }));
  cancelled->cancel();
  for (auto* r : {subscribed.get(), streamed.get()}) {
    auto end = r->wait_finished(deadline + default_wait);
    ASSERT_TRUE(end.has_value()) << "the stream outlived its deadline";
    EXPECT_EQ(end->error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << describe(*end);
  }
  samples after;
  ASSERT_TRUE(wait_until([&] {
    after = node.scrape();
    return value(after, "marketmonitor_sessions") == 0;
  }));
  EXPECT_EQ(value(after, ended_deadline), 2);
  EXPECT_EQ(value(after, ended_cancel), 1);
  auto stats = admin.stats();
  EXPECT_EQ(stats.ended("deadline_exceeded"), 2) << stats.describe();
  EXPECT_EQ(stats.ended("stream_ended"), 1) << stats.describe();
}

TEST(ops, a_frozen_peer_found_by_the_write_stall_counts_as_peer_dead) {
  // Keepalive far away: the write stall is what finds the frozen peer.
  redis_process redis;
  metered node{redis,
               {"--write-stall-timeout-ms", "700", "--keepalive-time-ms",
                "60000", "--keepalive-timeout-ms", "20000"}};
  admin_client admin{node.server.admin_address()};
  auto grpc_address = node.server.grpc_address();
  tcp_proxy proxy{static_cast<uint16_t>(
    std::stoi(grpc_address.substr(grpc_address.rfind(':') + 1)))};
  // A connection that takes little at a time (no BDP growth, an 8 KiB
  // window): once the proxy freezes, the server's writes stop completing.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8192);
  auto proxied = pb::MarketMonitor::NewStub(
    grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(proxy.port()),
                              grpc::InsecureChannelCredentials(), args));
  std::vector<std::string> tickers;
  pb::SubscribeRequest req;
  for (int i = 0; i < 20; ++i) {
    tickers.push_back("FRZ" + std::to_string(i));
    req.add_tickers(tickers.back());
  }
  auto frozen = stream_reader::subscribe(*proxied, req);
  // A reader on a healthy connection is not touched.
  auto stub = make_stub(grpc_address);
  auto healthy = stream_reader::subscribe(*stub, req);
  publisher pub{redis.port()};
  for (auto& t : tickers)
    ASSERT_TRUE(pub.wait_subscribed(t));
  ASSERT_TRUE(wait_until([&] {
    pub.publish_tick(tickers[0], 1.0, 1, 1);
    return frozen->wait_count(tickers[0], 1, milliseconds{50})
           && healthy->wait_count(tickers[0], 1, milliseconds{50});
  }));
  proxy.freeze();
  std::string pad(300, 'x');
  int64_t published = 0;
  samples after;
  ASSERT_TRUE(wait_until(
    [&] {
      std::vector<std::pair<std::string, std::string>> burst;
      for (int i = 0; i < 50; ++i) {
        auto& t = tickers[static_cast<size_t>(published++) % tickers.size()];
        burst.emplace_back(t, "{\"price\": 1.5, \"volume\": 1, \"pad\": \""
                                + pad + "\"}");
      }
      pub.publish_burst(burst);
      after = node.scrape();
      return value(after, ended_peer_dead) >= 1;
    },
    scaled_wait(milliseconds{20000})))
    << "the frozen peer's session is still there";
  EXPECT_EQ(value(after, ended_peer_dead), 1);
  EXPECT_EQ(value(after, "marketmonitor_evictions_total"), 1);
  EXPECT_EQ(value(after, ended_cancel), 0);
  EXPECT_EQ(value(after, "marketmonitor_sessions"), 1);
  EXPECT_FALSE(healthy->finished());
  auto stats = admin.stats();
  EXPECT_EQ(stats.ended("client_not_reading"), 1) << stats.describe();
  frozen->cancel(); // the client never heard: end it locally
}

TEST(ops, health_watchers_see_not_serving_before_their_stream_ends) {
  redis_process redis;
  server_process server{redis, {}};
  auto target = server.grpc_address();
  ASSERT_TRUE(
    wait_until([&] { return health_check(target, "") == "SERVING"; }));
  health_watcher node_watch{target, ""};
  health_watcher api_watch{target, "marketmonitor.v1.MarketMonitor"};
  for (auto* w : {&node_watch, &api_watch})
    ASSERT_TRUE(w->wait_status("SERVING"))
      << ::testing::PrintToString(w->seen());
  // A stream is open too, so that the shutdown has a session to end.
  auto stub = make_stub(target);
  pb::SubscribeRequest req;
  req.add_tickers("HWA");
  auto reader = stream_reader::subscribe(*stub, req);
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("HWA"));
  server.send_signal(SIGTERM);
  for (auto* w : {&node_watch, &api_watch}) {
    auto end = w->wait_end(default_wait);
    ASSERT_TRUE(end.has_value()) << "the watch outlived the server";
    auto seen = w->seen();
    ASSERT_GE(seen.size(), 2u) << ::testing::PrintToString(seen);
    EXPECT_EQ(seen.front(), "SERVING");
    EXPECT_EQ(seen.back(), "NOT_SERVING")
      << "the stream ended (" << describe(*end)
      << ") without NOT_SERVING: " << ::testing::PrintToString(seen);
  }
  auto status = server.wait_exit(default_wait);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE) << describe(*end);
}

} // namespace
} // namespace mm::test

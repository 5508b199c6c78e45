#pragma once

// The end-to-end test harness: a real redis-server, a real mm-server process,
// a hiredis publisher and real gRPC clients. Nothing is mocked; every wait is
// on a condition with a deadline.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "marketmonitor/v1/market_monitor.grpc.pb.h"

#include "feed/redis_publisher.hpp"

namespace mm::test {

namespace pb = marketmonitor::v1;

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

// Whether this tree is built with AddressSanitizer or ThreadSanitizer
// (scripts/sanitize). The mm-server and mm-feed the tests start come from the
// same tree, so they are instrumented too. Tests whose bounds such a build
// cannot meet say where they use these, and why.
#if defined(__SANITIZE_ADDRESS__)
#  define MM_TEST_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define MM_TEST_ASAN 1
#  endif
#endif
#if defined(__SANITIZE_THREAD__)
#  define MM_TEST_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MM_TEST_TSAN 1
#  endif
#endif
#ifdef MM_TEST_ASAN
constexpr bool asan_build = true;
#else
constexpr bool asan_build = false;
#endif
#ifdef MM_TEST_TSAN
constexpr bool tsan_build = true;
#else
constexpr bool tsan_build = false;
#endif

/// How much slower a sanitized build runs this suite on 2 cores (ASan about
/// 3 times, TSan up to 10). Waits for setup and deadlines of calls that
/// should succeed are scaled by it, never a bound that a test exists to
/// prove: in the default build it is 1.
constexpr int sanitizer_slowdown = asan_build ? 3 : tsan_build ? 10 : 1;

/// `t` scaled by `sanitizer_slowdown`.
constexpr milliseconds scaled_wait(milliseconds t) {
  return t * sanitizer_slowdown;
}

/// The default deadline of a wait that should succeed quickly.
constexpr milliseconds default_wait = scaled_wait(milliseconds{5000});

/// Polls `pred` every few milliseconds until it holds or `timeout` passes;
/// returns whether it held.
bool wait_until(const std::function<bool()>& pred,
                milliseconds timeout = default_wait);

/// Returns a loopback TCP port that was free a moment ago.
uint16_t pick_free_port();

/// Starts `args` (argv[0] a path or a name on PATH) with stdout and stderr
/// on /dev/null. The child dies with the test process and holds none of its
/// descriptors but stdin, stdout and stderr.
pid_t spawn_quiet(const std::vector<std::string>& args);

/// Sends SIGTERM to `pid` and reaps it; SIGKILL after `timeout`. Returns the
/// raw waitpid status.
int terminate_process(pid_t pid, milliseconds timeout);

/// A redis-server on a free loopback port, without persistence.
class redis_process {
public:
  /// Starts the server and waits until it answers PING.
  redis_process();
  ~redis_process();

  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  uint16_t port() const {
    return port_;
  }

  pid_t pid() const {
    return pid_;
  }

  /// "127.0.0.1:PORT".
  std::string address() const;

  /// Kills the server with SIGKILL (no goodbye to its clients) and reaps it.
  void kill_now();

  /// Starts the server again on the same port; waits until it answers PING.
  void restart();

private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

/// An mm-server process talking to a `redis_process`.
class server_process {
public:
  /// Starts mm-server on ephemeral loopback ports with `flags` appended and
  /// waits (20 s at most) for its ready line. `env` ("KEY=VALUE") is added
  /// to the server's environment. With `stderr_path` the server's log goes
  /// to that file (appended) instead of the test's stderr.
  server_process(const redis_process& redis, std::vector<std::string> flags,
                 std::vector<std::string> env = {},
                 const std::string& stderr_path = {});
  ~server_process();

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// "HOST:PORT" of the gRPC endpoint from the ready line.
  const std::string& grpc_address() const {
    return grpc_address_;
  }

  /// "HOST:PORT" of the admin endpoint from the ready line.
  const std::string& admin_address() const {
    return admin_address_;
  }

  /// "HOST:PORT" of a hub's cluster endpoint from the ready line (empty on
  /// other roles).
  const std::string& cluster_address() const {
    return cluster_address_;
  }

  pid_t pid() const {
    return pid_;
  }

  /// Sends `sig` to the server.
  void send_signal(int sig);

  /// Waits until every thread of the server is stopped (after SIGSTOP: the
  /// signal takes effect when each thread next leaves the kernel, which on
  /// a loaded machine can be after the next tick arrived).
  bool wait_stopped(milliseconds timeout = milliseconds{5000});

  /// Waits for the server to exit on its own; returns the raw waitpid
  /// status, or nothing if it still runs after `timeout`.
  std::optional<int> wait_exit(milliseconds timeout);

  /// SIGTERM, then SIGKILL after `timeout`; returns the raw waitpid status.
  int stop(milliseconds timeout = milliseconds{10000});

private:
  void drain_stdout();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string grpc_address_;
  std::string admin_address_;
  std::string cluster_address_;
  std::thread drainer_;
};

/// Runs an mm-shell command with --json against `server`'s admin endpoint;
/// "" on failure.
std::string shell_json(const server_process& server,
                       const std::string& command);

/// The integer value of `"key":N` in a JSON document, or -1.
int64_t json_int(const std::string& json, const std::string& key);

/// Publishes feed payloads (feed/redis_publisher.hpp).
class publisher {
public:
  explicit publisher(uint16_t redis_port, std::string prefix = "prices:");

  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// PUBLISH `payload` on the channel of `ticker`; returns the number of
  /// receivers Redis reports.
  long long publish(const std::string& ticker, const std::string& payload);

  /// Publishes a well-formed tick.
  long long publish_tick(const std::string& ticker, double price,
                         int64_t volume, int64_t ts);

  /// Publishes many payloads in one pipelined burst.
  void publish_burst(
    const std::vector<std::pair<std::string, std::string>>& ticker_payloads);

  /// Number of subscribers of the ticker's channel (PUBSUB NUMSUB).
  long long subscribers(const std::string& ticker);

  /// Waits until the server subscribed the ticker's channel.
  bool wait_subscribed(const std::string& ticker,
                       milliseconds timeout = default_wait);

  /// Waits until nobody subscribes the ticker's channel any more.
  bool wait_unsubscribed(const std::string& ticker,
                         milliseconds timeout = default_wait);

private:
  feed::redis_publisher redis_;
  std::string prefix_;
};

/// Formats a feed payload, with blanks after the colons and every digit of
/// the price.
std::string tick_json(double price, int64_t volume, int64_t ts);

/// Creates a stub over an insecure channel to `target`.
std::unique_ptr<pb::MarketMonitor::Stub> make_stub(const std::string& target);

/// Runs one server stream on its own thread and collects its batches.
class stream_reader {
public:
  using batches = std::vector<pb::PriceBatch>;
  using predicate = std::function<bool(const batches&)>;

  /// Starts StreamPriceUpdates for `session_id`, with a deadline that far
  /// from now if given.
  static std::unique_ptr<stream_reader>
  stream(pb::MarketMonitor::Stub& stub, const std::string& session_id,
         bool paused = false, std::optional<milliseconds> deadline = {});

  /// Starts Subscribe with `req`, with a deadline that far from now if
  /// given.
  static std::unique_ptr<stream_reader>
  subscribe(pb::MarketMonitor::Stub& stub, pb::SubscribeRequest req,
            bool paused = false, std::optional<milliseconds> deadline = {});

  /// Cancels the call if it still runs and joins the thread.
  ~stream_reader();

  stream_reader(const stream_reader&) = delete;
  stream_reader& operator=(const stream_reader&) = delete;

  /// Waits until `pred` holds for the received batches; gives up early when
  /// the stream ended and `pred` still fails.
  bool wait_for(const predicate& pred, milliseconds timeout = default_wait);

  /// Waits until an update of `ticker` arrived that satisfies `pred`.
  bool wait_update(const std::string& ticker,
                   const std::function<bool(const pb::PriceUpdate&)>& pred,
                   milliseconds timeout = default_wait);

  /// Waits until at least `n` updates of `ticker` arrived.
  bool wait_count(const std::string& ticker, size_t n,
                  milliseconds timeout = default_wait);

  /// Waits until the stream ended; returns its status, or nothing.
  std::optional<grpc::Status>
  wait_finished(milliseconds timeout = default_wait);

  /// Starts reading when constructed paused.
  void resume();

  /// Cancels the call from the client side.
  void cancel();

  /// Whether the stream ended.
  bool finished();

  /// A copy of the batches received so far.
  batches received();

  /// All updates received so far, in order.
  std::vector<pb::PriceUpdate> updates();

  /// The updates of `ticker` received so far, in order.
  std::vector<pb::PriceUpdate> updates_of(const std::string& ticker);

private:
  using factory =
    std::function<std::unique_ptr<grpc::ClientReader<pb::PriceBatch>>(
      grpc::ClientContext*)>;

  stream_reader(factory start, bool paused);

  void run(factory start);

  grpc::ClientContext ctx_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool paused_;
  bool finished_ = false;
  grpc::Status status_;
  batches batches_;
  std::thread thread_;
};

/// A deadline `timeout` from now, as gRPC contexts take it.
std::chrono::system_clock::time_point deadline_in(milliseconds timeout);

// Unary calls with a deadline; they return the call's status.

grpc::Status call_start(pb::MarketMonitor::Stub& stub,
                        const std::vector<std::string>& tickers,
                        const pb::SessionOptions& opts,
                        pb::StartPriceMonitoringResponse* res);

grpc::Status call_update(pb::MarketMonitor::Stub& stub, const std::string& id,
                         const std::vector<std::string>& add,
                         const std::vector<std::string>& remove,
                         pb::UpdateSubscriptionResponse* res);

grpc::Status call_stop(pb::MarketMonitor::Stub& stub, const std::string& id);

grpc::Status call_last(pb::MarketMonitor::Stub& stub,
                       const std::vector<std::string>& tickers,
                       pb::GetLastPricesResponse* res);

/// "CODE: message" for failure output.
std::string describe(const grpc::Status& status);

/// Returns whether `str` contains `needle`, ignoring case.
bool contains_nocase(const std::string& str, const std::string& needle);

/// Returns whether `id` looks like a textual UUID (8-4-4-4-12 hex digits).
bool is_uuid(const std::string& id);

/// Converts a repeated string field into a vector.
std::vector<std::string>
to_vector(const google::protobuf::RepeatedPtrField<std::string>& xs);

/// One redis-server and one mm-server shared by all tests of a suite, with
/// short tunables so that the suite runs fast.
class server_suite : public ::testing::Test {
public:
  /// The flags of the shared server (besides the listen addresses).
  static std::vector<std::string> shared_flags();

  static void SetUpTestSuite();
  static void TearDownTestSuite();

protected:
  void SetUp() override;

  /// Starts a session; fails the test on a non-OK status.
  pb::StartPriceMonitoringResponse
  start(const std::vector<std::string>& tickers,
        const pb::SessionOptions& opts = {});

  /// Starts a session and attaches its stream.
  std::unique_ptr<stream_reader>
  start_stream(const std::vector<std::string>& tickers,
               const pb::SessionOptions& opts = {}, std::string* id = nullptr);

  static std::unique_ptr<redis_process> redis_;
  static std::unique_ptr<server_process> server_;
  std::unique_ptr<pb::MarketMonitor::Stub> stub_;
  std::unique_ptr<publisher> pub_;
};

} // namespace mm::test

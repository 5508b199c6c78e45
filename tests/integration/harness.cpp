#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include <hiredis/hiredis.h>

#include "tests/integration/node_stats.hpp"

namespace mm::test {

namespace {

constexpr milliseconds poll_interval{5};

/// Forks and execs `argv` (looked up on PATH). The child dies with the test
/// process, so a crashed test leaves no servers behind. It keeps only stdin,
/// stdout and stderr of this process: a copy of one of the test's sockets
/// in a child would keep that connection open after the test closed it.
/// `stdout_fd`, when not -1, becomes the child's stdout; otherwise stdout goes
/// to /dev/null. `env` ("KEY=VALUE") is added to this process's environment,
/// replacing variables of the same name. `stderr_fd`, when not -1, becomes the
/// child's stderr.
pid_t spawn(const std::vector<std::string>& args, int stdout_fd,
            bool quiet_stderr, const std::vector<std::string>& env = {},
            int stderr_fd = -1) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed in a multi-threaded process.
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto** e = environ; *e != nullptr; ++e) {
    std::string_view var{*e};
    auto replaced = std::any_of(env.begin(), env.end(), [&](auto& kv) {
      auto key = kv.substr(0, kv.find('=') + 1);
      return var.substr(0, key.size()) == key;
    });
    if (!replaced)
      envp.push_back(*e);
  }
  for (auto& kv : env)
    envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0)
    throw std::runtime_error("cannot open /dev/null");
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0) {
    ::close(devnull);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(stdout_fd >= 0 ? stdout_fd : devnull, STDOUT_FILENO);
    if (quiet_stderr)
      ::dup2(devnull, STDERR_FILENO);
    else if (stderr_fd >= 0)
      ::dup2(stderr_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(devnull);
  return pid;
}

/// Reaps `pid` if it exited; returns its raw status.
std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  auto res = ::waitpid(pid, &status, WNOHANG);
  if (res == pid)
    return status;
  if (res < 0 && errno == ECHILD)
    return -1;
  return std::nullopt;
}

std::optional<int> reap_within(pid_t pid, milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (auto status = try_reap(pid))
      return status;
    if (clock_type::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(poll_interval);
  }
}

bool redis_answers(uint16_t port) {
  timeval tv{0, 200000};
  auto* ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (ctx == nullptr)
    return false;
  bool ok = false;
  if (ctx->err == 0) {
    auto* reply = static_cast<redisReply*>(redisCommand(ctx, "PING"));
    ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS
         && std::string(reply->str, reply->len) == "PONG";
    if (reply != nullptr)
      freeReplyObject(reply);
  }
  redisFree(ctx);
  return ok;
}

} // namespace

pid_t spawn_quiet(const std::vector<std::string>& args) {
  return spawn(args, -1, true);
}

// --- free functions ----------------------------------------------------------

bool wait_until(const std::function<bool()>& pred, milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

uint16_t pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int terminate_process(pid_t pid, milliseconds timeout) {
  if (auto status = try_reap(pid))
    return *status;
  ::kill(pid, SIGTERM);
  if (auto status = reap_within(pid, timeout))
    return *status;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// Not feed::tick_payload: with its compact form the churn test's proxied
// streams got no batch within 20 s in 4 of 4 runs at a load average of
// 8-18, with this spaced form they passed 2 of 2; on a quiet machine both
// forms passed (1 of 1 each), and the churn test also fails now and then
// with this form (tests/CMakeLists.txt). So the form is likely not the
// cause; this copy stays until the churn defect is understood.
std::string tick_json(double price, int64_t volume, int64_t ts) {
  char buf[128];
  std::snprintf(buf, sizeof(buf),
                R"({"price": %.17g, "volume": %lld, "ts": %lld})", price,
                static_cast<long long>(volume), static_cast<long long>(ts));
  return buf;
}

std::unique_ptr<pb::MarketMonitor::Stub> make_stub(const std::string& target) {
  auto channel = grpc::CreateChannel(target,
                                     grpc::InsecureChannelCredentials());
  return pb::MarketMonitor::NewStub(channel);
}

bool contains_nocase(const std::string& str, const std::string& needle) {
  auto lower = [](std::string x) {
    std::transform(x.begin(), x.end(), x.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return x;
  };
  return lower(str).find(lower(needle)) != std::string::npos;
}

bool is_uuid(const std::string& id) {
  static const std::regex re{"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             "[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"};
  return std::regex_match(id, re);
}

std::vector<std::string>
to_vector(const google::protobuf::RepeatedPtrField<std::string>& xs) {
  return {xs.begin(), xs.end()};
}

std::chrono::system_clock::time_point deadline_in(milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

grpc::Status call_start(pb::MarketMonitor::Stub& stub,
                        const std::vector<std::string>& tickers,
                        const pb::SessionOptions& opts,
                        pb::StartPriceMonitoringResponse* res) {
  pb::StartPriceMonitoringRequest req;
  for (auto& t : tickers)
    req.add_tickers(t);
  *req.mutable_options() = opts;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(default_wait));
  return stub.StartPriceMonitoring(&ctx, req, res);
}

grpc::Status call_update(pb::MarketMonitor::Stub& stub, const std::string& id,
                         const std::vector<std::string>& add,
                         const std::vector<std::string>& remove,
                         pb::UpdateSubscriptionResponse* res) {
  pb::UpdateSubscriptionRequest req;
  req.set_session_id(id);
  for (auto& t : add)
    req.add_add(t);
  for (auto& t : remove)
    req.add_remove(t);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(default_wait));
  return stub.UpdateSubscription(&ctx, req, res);
}

grpc::Status call_stop(pb::MarketMonitor::Stub& stub, const std::string& id) {
  pb::StopPriceMonitoringRequest req;
  req.set_session_id(id);
  pb::StopPriceMonitoringResponse res;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(default_wait));
  return stub.StopPriceMonitoring(&ctx, req, &res);
}

grpc::Status call_last(pb::MarketMonitor::Stub& stub,
                       const std::vector<std::string>& tickers,
                       pb::GetLastPricesResponse* res) {
  pb::GetLastPricesRequest req;
  for (auto& t : tickers)
    req.add_tickers(t);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(default_wait));
  return stub.GetLastPrices(&ctx, req, res);
}

std::string describe(const grpc::Status& status) {
  return std::to_string(static_cast<int>(status.error_code())) + ": "
         + status.error_message();
}

// --- redis_process -----------------------------------------------------------

redis_process::redis_process() {
  // The port was free when picked but may be taken before redis binds it:
  // then redis exits and we try another one.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = pick_free_port();
    auto port = std::to_string(port_);
    pid_ = spawn({"redis-server", "--port", port, "--bind", "127.0.0.1",
                  "--save", "", "--appendonly", "no"},
                 -1, true);
    bool exited = false;
    bool ready = wait_until(
      [&] {
        if (try_reap(pid_)) {
          exited = true;
          return true;
        }
        return redis_answers(port_);
      },
      milliseconds{5000});
    if (ready && !exited)
      return;
    if (!exited)
      terminate_process(pid_, milliseconds{2000});
  }
  pid_ = -1;
  throw std::runtime_error("cannot start redis-server");
}

redis_process::~redis_process() {
  if (pid_ > 0)
    terminate_process(pid_, milliseconds{5000});
}

void redis_process::kill_now() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void redis_process::restart() {
  kill_now();
  auto port = std::to_string(port_);
  // The old socket may linger a moment; retry until the port is ours again.
  bool ready = wait_until(
    [&] {
      if (pid_ <= 0 || try_reap(pid_))
        pid_ = spawn({"redis-server", "--port", port, "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no"},
                     -1, true);
      return redis_answers(port_);
    },
    milliseconds{10000});
  if (!ready)
    throw std::runtime_error("cannot restart redis-server on port " + port);
}

std::string redis_process::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

// --- server_process ----------------------------------------------------------

server_process::server_process(const redis_process& redis,
                               std::vector<std::string> flags,
                               std::vector<std::string> env,
                               const std::string& stderr_path) {
  std::vector<std::string> args{MM_SERVER_BIN,  "--grpc-listen",
                                "127.0.0.1:0",  "--admin-listen",
                                "127.0.0.1:0",  "--redis",
                                redis.address()};
  args.insert(args.end(), flags.begin(), flags.end());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  int err_fd = -1;
  if (!stderr_path.empty()) {
    err_fd = ::open(stderr_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err_fd < 0)
      throw std::runtime_error("cannot open " + stderr_path);
  }
  pid_ = spawn(args, fds[1], false, env, err_fd);
  ::close(fds[1]);
  if (err_fd >= 0)
    ::close(err_fd);
  stdout_fd_ = fds[0];
  // Read stdout until the ready line tells us the ports.
  auto deadline = clock_type::now() + milliseconds{20000};
  std::string buf;
  static const std::regex ready_re{
    R"(^marketmonitor ready grpc=(\S+) admin=(\S+)(?: cluster=(\S+))?\s*$)"};
  for (;;) {
    auto nl = buf.find('\n');
    while (nl != std::string::npos) {
      auto line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      std::smatch m;
      if (std::regex_match(line, m, ready_re)) {
        grpc_address_ = m[1];
        admin_address_ = m[2];
        cluster_address_ = m[3];
        drainer_ = std::thread{[this] { drain_stdout(); }};
        return;
      }
      std::cerr << "[mm-server] " << line << '\n';
      nl = buf.find('\n');
    }
    auto left =
      std::chrono::duration_cast<milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0)
      break;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    auto n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    char chunk[4096];
    auto got = ::read(stdout_fd_, chunk, sizeof(chunk));
    if (got <= 0)
      break; // EOF: the server exited before it was ready
    buf.append(chunk, static_cast<size_t>(got));
  }
  auto status = terminate_process(pid_, milliseconds{2000});
  ::close(stdout_fd_);
  pid_ = -1;
  std::ostringstream msg;
  msg << "mm-server did not print its ready line (raw exit status " << status
      << ", output: " << buf << ")";
  throw std::runtime_error(msg.str());
}

server_process::~server_process() {
  if (pid_ > 0)
    stop(milliseconds{10000});
}

void server_process::drain_stdout() {
  // Keep the pipe empty so the server never blocks on a log line.
  char chunk[4096];
  for (;;) {
    auto got = ::read(stdout_fd_, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return;
    std::cerr.write(chunk, got);
  }
}

void server_process::send_signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

bool server_process::wait_stopped(milliseconds timeout) {
  if (pid_ <= 0)
    return false;
  auto task_dir = "/proc/" + std::to_string(pid_) + "/task";
  return wait_until(
    [&] {
      std::error_code err;
      size_t threads = 0;
      for (const auto& entry :
           std::filesystem::directory_iterator{task_dir, err}) {
        std::ifstream in{entry.path() / "stat"};
        std::string line;
        std::getline(in, line);
        // "TID (COMM) STATE ...": COMM may hold spaces and parentheses.
        auto close = line.rfind(')');
        if (close == std::string::npos || close + 2 >= line.size()
            || line[close + 2] != 'T')
          return false;
        ++threads;
      }
      return !err && threads > 0;
    },
    timeout);
}

std::optional<int> server_process::wait_exit(milliseconds timeout) {
  if (pid_ <= 0)
    return std::nullopt;
  auto status = reap_within(pid_, timeout);
  if (status) {
    pid_ = -1;
    if (drainer_.joinable())
      drainer_.join();
    ::close(stdout_fd_);
  }
  return status;
}

int server_process::stop(milliseconds timeout) {
  auto status = terminate_process(pid_, timeout);
  pid_ = -1;
  if (drainer_.joinable())
    drainer_.join();
  ::close(stdout_fd_);
  return status;
}

// --- publisher ---------------------------------------------------------------

publisher::publisher(uint16_t redis_port, std::string prefix)
  : prefix_(std::move(prefix)) {
  feed::redis_settings cfg;
  cfg.port = redis_port;
  cfg.timeout_ms = 0; // a test's own deadlines bound its waits
  if (auto err = redis_.connect(cfg); !err.empty())
    throw std::runtime_error("publisher cannot connect to redis: " + err);
}

long long publisher::publish(const std::string& ticker,
                             const std::string& payload) {
  auto n = redis_.publish(prefix_ + ticker, payload);
  if (!n)
    throw std::runtime_error("PUBLISH failed: " + redis_.error());
  return *n;
}

long long publisher::publish_tick(const std::string& ticker, double price,
                                  int64_t volume, int64_t ts) {
  return publish(ticker, tick_json(price, volume, ts));
}

void publisher::publish_burst(
  const std::vector<std::pair<std::string, std::string>>& ticker_payloads) {
  for (auto& [ticker, payload] : ticker_payloads)
    redis_.append(prefix_ + ticker, payload);
  if (redis_.flush().lost > 0)
    throw std::runtime_error("pipelined PUBLISH failed: " + redis_.error());
}

long long publisher::subscribers(const std::string& ticker) {
  auto n = redis_.subscribers(prefix_ + ticker);
  if (!n)
    throw std::runtime_error("PUBSUB NUMSUB failed: " + redis_.error());
  return *n;
}

bool publisher::wait_subscribed(const std::string& ticker,
                                milliseconds timeout) {
  return wait_until([&] { return subscribers(ticker) > 0; }, timeout);
}

bool publisher::wait_unsubscribed(const std::string& ticker,
                                  milliseconds timeout) {
  return wait_until([&] { return subscribers(ticker) == 0; }, timeout);
}

// --- stream_reader -----------------------------------------------------------

std::unique_ptr<stream_reader>
stream_reader::stream(pb::MarketMonitor::Stub& stub,
                      const std::string& session_id, bool paused,
                      std::optional<milliseconds> deadline) {
  pb::StreamPriceUpdatesRequest req;
  req.set_session_id(session_id);
  auto start = [&stub, req, deadline](grpc::ClientContext* ctx) {
    if (deadline)
      ctx->set_deadline(deadline_in(*deadline));
    return stub.StreamPriceUpdates(ctx, req);
  };
  return std::unique_ptr<stream_reader>{new stream_reader(start, paused)};
}

std::unique_ptr<stream_reader>
stream_reader::subscribe(pb::MarketMonitor::Stub& stub,
                         pb::SubscribeRequest req, bool paused,
                         std::optional<milliseconds> deadline) {
  auto start = [&stub, req, deadline](grpc::ClientContext* ctx) {
    if (deadline)
      ctx->set_deadline(deadline_in(*deadline));
    return stub.Subscribe(ctx, req);
  };
  return std::unique_ptr<stream_reader>{new stream_reader(start, paused)};
}

stream_reader::stream_reader(factory start, bool paused) : paused_(paused) {
  thread_ = std::thread{[this, start] { run(start); }};
}

stream_reader::~stream_reader() {
  ctx_.TryCancel();
  resume();
  thread_.join();
}

void stream_reader::run(factory start) {
  auto reader = start(&ctx_);
  {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return !paused_; });
  }
  pb::PriceBatch batch;
  while (reader->Read(&batch)) {
    std::lock_guard<std::mutex> guard{mtx_};
    batches_.push_back(batch);
    cv_.notify_all();
  }
  auto status = reader->Finish();
  std::lock_guard<std::mutex> guard{mtx_};
  status_ = status;
  finished_ = true;
  cv_.notify_all();
}

bool stream_reader::wait_for(const predicate& pred, milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  cv_.wait_for(guard, timeout, [&] { return finished_ || pred(batches_); });
  return pred(batches_);
}

bool stream_reader::wait_update(
  const std::string& ticker,
  const std::function<bool(const pb::PriceUpdate&)>& pred,
  milliseconds timeout) {
  return wait_for(
    [&](const batches& bs) {
      for (auto& b : bs)
        for (auto& u : b.updates())
          if (u.ticker() == ticker && pred(u))
            return true;
      return false;
    },
    timeout);
}

bool stream_reader::wait_count(const std::string& ticker, size_t n,
                               milliseconds timeout) {
  return wait_for(
    [&](const batches& bs) {
      size_t count = 0;
      for (auto& b : bs)
        for (auto& u : b.updates())
          if (u.ticker() == ticker)
            ++count;
      return count >= n;
    },
    timeout);
}

std::optional<grpc::Status> stream_reader::wait_finished(milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (!cv_.wait_for(guard, timeout, [this] { return finished_; }))
    return std::nullopt;
  return status_;
}

void stream_reader::resume() {
  std::lock_guard<std::mutex> guard{mtx_};
  paused_ = false;
  cv_.notify_all();
}

void stream_reader::cancel() {
  ctx_.TryCancel();
}

bool stream_reader::finished() {
  std::lock_guard<std::mutex> guard{mtx_};
  return finished_;
}

stream_reader::batches stream_reader::received() {
  std::lock_guard<std::mutex> guard{mtx_};
  return batches_;
}

std::vector<pb::PriceUpdate> stream_reader::updates() {
  std::vector<pb::PriceUpdate> result;
  for (auto& b : received())
    for (auto& u : b.updates())
      result.push_back(u);
  return result;
}

std::vector<pb::PriceUpdate>
stream_reader::updates_of(const std::string& ticker) {
  auto all = updates();
  all.erase(std::remove_if(all.begin(), all.end(),
                           [&](auto& u) { return u.ticker() != ticker; }),
            all.end());
  return all;
}

// --- server_suite ------------------------------------------------------------

std::unique_ptr<redis_process> server_suite::redis_;
std::unique_ptr<server_process> server_suite::server_;

std::vector<std::string> server_suite::shared_flags() {
  return {"--linger-ms",           "200", "--attach-timeout-ms", "2000",
          "--max-batch",           "50",  "--max-pending",       "1000",
          "--shutdown-timeout-ms", "2000"};
}

void server_suite::SetUpTestSuite() {
  redis_ = std::make_unique<redis_process>();
  server_ = std::make_unique<server_process>(*redis_, shared_flags());
}

void server_suite::TearDownTestSuite() {
  server_.reset();
  redis_.reset();
}

void server_suite::SetUp() {
  ASSERT_TRUE(server_ != nullptr) << "the shared mm-server did not start";
  stub_ = make_stub(server_->grpc_address());
  pub_ = std::make_unique<publisher>(redis_->port());
}

pb::StartPriceMonitoringResponse
server_suite::start(const std::vector<std::string>& tickers,
                    const pb::SessionOptions& opts) {
  pb::StartPriceMonitoringResponse res;
  auto status = call_start(*stub_, tickers, opts, &res);
  EXPECT_TRUE(status.ok()) << "StartPriceMonitoring: " << describe(status);
  return res;
}

std::unique_ptr<stream_reader>
server_suite::start_stream(const std::vector<std::string>& tickers,
                           const pb::SessionOptions& opts, std::string* id) {
  auto res = start(tickers, opts);
  if (id != nullptr)
    *id = res.session_id();
  return stream_reader::stream(*stub_, res.session_id());
}

std::string shell_json(const server_process& server,
                       const std::string& command) {
  int status = -1;
  auto out = admin_client{server.admin_address()}.run(command, true, &status);
  return status == 0 ? out : std::string{};
}

int64_t json_int(const std::string& json, const std::string& key) {
  std::regex re{"\"" + key + "\":(-?[0-9]+)"};
  std::smatch m;
  if (!std::regex_search(json, m, re))
    return -1;
  return std::stoll(m[1]);
}

} // namespace mm::test

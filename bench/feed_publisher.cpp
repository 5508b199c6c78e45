#include "bench/feed_publisher.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <utility>

#include <hiredis/hiredis.h>

#include "logging/log.hpp"

namespace mm::bench {

namespace {

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until_mono(int64_t t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(t % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR)
    ; // retry
}

/// At most this many PUBLISH commands per round trip while catching up.
constexpr uint64_t max_pipeline = 1024;

} // namespace

feed_publisher::feed_publisher(std::string host, int port, std::string prefix,
                               const std::vector<std::string>& tickers,
                               double rate)
  : host_(std::move(host)),
    port_(port),
    prefix_(std::move(prefix)),
    rate_(rate),
    in_window_(tickers.size(), 0) {
  channels_.reserve(tickers.size());
  for (const auto& name : tickers)
    channels_.push_back(prefix_ + name);
}

feed_publisher::~feed_publisher() {
  stop();
  if (ctx_ != nullptr)
    redisFree(ctx_);
}

std::string feed_publisher::connect() {
  timeval timeout{2, 0};
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, timeout);
  if (ctx_ == nullptr)
    return "out of memory";
  if (ctx_->err)
    return ctx_->errstr;
  redisSetTimeout(ctx_, timeout);
  auto* pong = static_cast<redisReply*>(redisCommand(ctx_, "PING"));
  if (pong == nullptr)
    return ctx_->errstr;
  bool refused = pong->type == REDIS_REPLY_ERROR;
  std::string what = refused ? std::string{"PING refused: "} + pong->str : "";
  freeReplyObject(pong);
  return what;
}

void feed_publisher::start() {
  thread_ = std::thread{[this] { run(); }};
}

void feed_publisher::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void feed_publisher::set_window(int64_t begin, int64_t end) {
  window_end_ = end;
  window_begin_ = begin;
}

bool feed_publisher::reconnect() {
  if (ctx_ != nullptr)
    redisFree(ctx_);
  ctx_ = nullptr;
  sleep_until_mono(clock_ns(CLOCK_MONOTONIC) + 100'000'000);
  return connect().empty();
}

void feed_publisher::run() {
  auto t0 = clock_ns(CLOCK_MONOTONIC);
  uint64_t done = 0;
  size_t next = 0;
  double price = 100;
  char payload[128];
  while (!stop_) {
    auto elapsed = static_cast<double>(clock_ns(CLOCK_MONOTONIC) - t0);
    auto due = static_cast<uint64_t>(elapsed * rate_ / 1e9);
    if (due <= done) {
      auto wake =
        t0 + static_cast<int64_t>(static_cast<double>(done + 1) * 1e9 / rate_);
      sleep_until_mono(wake);
      continue;
    }
    auto n = std::min(due - done, max_pipeline);
    auto begin = window_begin_.load(std::memory_order_relaxed);
    auto end = window_end_.load(std::memory_order_relaxed);
    for (uint64_t i = 0; i < n; ++i) {
      auto ts = clock_ns(CLOCK_REALTIME);
      // A slow saw tooth: valid prices, no randomness needed.
      price = price >= 200 ? 100 : price + 0.01;
      auto len = std::snprintf(payload, sizeof(payload),
                               R"({"price":%.2f,"volume":%llu,"ts":%lld})",
                               price, static_cast<unsigned long long>(done) + i,
                               static_cast<long long>(ts));
      redisAppendCommand(ctx_, "PUBLISH %s %b", channels_[next].c_str(),
                         payload, static_cast<size_t>(len));
      if (ts >= begin && ts < end)
        ++in_window_[next];
      next = (next + 1) % channels_.size();
    }
    bool broken = false;
    for (uint64_t i = 0; i < n; ++i) {
      void* reply = nullptr;
      if (redisGetReply(ctx_, &reply) != REDIS_OK) {
        errors_.fetch_add(n - i, std::memory_order_relaxed);
        broken = true;
        break;
      }
      if (static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR)
        errors_.fetch_add(1, std::memory_order_relaxed);
      freeReplyObject(reply);
    }
    done += n;
    published_.fetch_add(n, std::memory_order_relaxed);
    if (broken) {
      mm::log::warn("mm-bench", "feed lost Redis, reconnecting",
                    {{"error", ctx_->errstr}});
      while (!stop_ && !reconnect())
        ; // retry
    }
  }
}

} // namespace mm::bench

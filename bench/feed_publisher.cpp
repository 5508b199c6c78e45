#include "bench/feed_publisher.hpp"

#include <cerrno>
#include <cmath>
#include <ctime>
#include <utility>

#include "feed/pacer.hpp"
#include "feed/tick_payload.hpp"
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

} // namespace

feed_publisher::feed_publisher(std::string host, int port,
                               const std::string& prefix,
                               const std::vector<std::string>& tickers,
                               double rate)
  : rate_(rate), in_window_(tickers.size(), 0) {
  redis_.host = std::move(host);
  redis_.port = static_cast<uint16_t>(port);
  channels_.reserve(tickers.size());
  for (const auto& name : tickers)
    channels_.push_back(prefix + name);
}

feed_publisher::~feed_publisher() {
  stop();
}

std::string feed_publisher::connect() {
  return conn_.connect(redis_);
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
  conn_.disconnect();
  sleep_until_mono(clock_ns(CLOCK_MONOTONIC) + 100'000'000);
  return connect().empty();
}

void feed_publisher::run() {
  // Exactly the ticks due, never a backlog dropped: the offered load is
  // `rate` over the whole run.
  mm::feed::pacer::settings pacing;
  pacing.rate = rate_;
  pacing.max_batch = 1024;
  mm::feed::pacer pace{pacing, clock_ns(CLOCK_MONOTONIC)};
  uint64_t done = 0;
  size_t next = 0;
  double price = 100;
  char payload[mm::feed::max_tick_payload];
  while (!stop_) {
    auto now = clock_ns(CLOCK_MONOTONIC);
    if (now < pace.next_due()) {
      sleep_until_mono(pace.next_due());
      continue;
    }
    auto n = pace.take(now);
    auto begin = window_begin_.load(std::memory_order_relaxed);
    auto end = window_end_.load(std::memory_order_relaxed);
    uint64_t unsent = 0;
    for (uint64_t i = 0; i < n; ++i) {
      auto ts = clock_ns(CLOCK_REALTIME);
      // A slow saw tooth in cents: valid prices, no randomness needed.
      price = price >= 200 ? 100 : price + 0.01;
      auto len =
        mm::feed::write_tick_payload(payload, std::round(price * 100) / 100,
                                     static_cast<int64_t>(done + i), ts);
      if (!conn_.append(channels_[next], {payload, len}))
        ++unsent;
      if (ts >= begin && ts < end)
        ++in_window_[next];
      next = (next + 1) % channels_.size();
    }
    auto replies = conn_.flush();
    errors_.fetch_add(replies.refused + replies.lost + unsent,
                      std::memory_order_relaxed);
    done += n;
    published_.fetch_add(n, std::memory_order_relaxed);
    if (replies.lost + unsent > 0) {
      mm::log::warn("mm-bench", "feed lost Redis, reconnecting",
                    {{"error", conn_.error()}});
      while (!stop_ && !reconnect())
        ; // retry
    }
  }
}

} // namespace mm::bench

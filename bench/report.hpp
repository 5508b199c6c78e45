#pragma once

// What mm-bench reports and reads besides its streams: the node's admin
// `stats` (through mm-shell), samples of the server process, and the JSON
// document.

#include <sys/types.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "bench/clock.hpp"
#include "bench/options.hpp"
#include "bench/process_sample.hpp"

namespace mm::bench {

/// The node's `stats` as JSON text through `mm-shell`, or nothing when there
/// is no admin endpoint, no shell beside us, or no answer within 10 s.
std::optional<std::string> admin_stats(const options& opts);

/// Waits until the node reports idle (with an admin endpoint) or for the
/// whole `seconds` (without); returns "true", "false" or "unknown" and the
/// last stats seen.
std::pair<std::string, std::string> wait_idle(const options& opts,
                                              double seconds);

/// Builds one JSON object; values are numbers, strings, bools or raw JSON.
class json_object {
public:
  json_object& num(const std::string& key, double x) {
    char buf[64];
    if (!std::isfinite(x))
      std::snprintf(buf, sizeof(buf), "null");
    else if (x == std::floor(x) && std::fabs(x) < 1e15)
      std::snprintf(buf, sizeof(buf), "%.0f", x);
    else
      std::snprintf(buf, sizeof(buf), "%.6g", x);
    return raw(key, buf);
  }

  json_object& str(const std::string& key, const std::string& x) {
    std::string quoted = "\"";
    for (auto c : x) {
      if (c == '"' || c == '\\')
        quoted += '\\';
      if (static_cast<unsigned char>(c) < 0x20)
        continue;
      quoted += c;
    }
    return raw(key, quoted + "\"");
  }

  json_object& boolean(const std::string& key, bool x) {
    return raw(key, x ? "true" : "false");
  }

  json_object& raw(const std::string& key, const std::string& json) {
    if (!body_.empty())
      body_ += ", ";
    body_ += "\"" + key + "\": " + json;
    return *this;
  }

  json_object& counts(const std::string& key,
                      const std::map<std::string, uint64_t>& xs) {
    json_object obj;
    for (const auto& [k, v] : xs)
      obj.num(k, static_cast<double>(v));
    return raw(key, obj.text());
  }

  std::string text() const {
    return "{" + body_ + "}";
  }

private:
  std::string body_;
};

/// Bytes as MB with one decimal.
double mb(uint64_t bytes);

/// Nanoseconds as milliseconds, rounded to the microsecond.
double ms(int64_t ns);

/// "k v, k v" or "none".
std::string format_counts(const std::map<std::string, uint64_t>& xs);

/// Samples the server once a second in the background for the peaks.
class server_watch {
public:
  explicit server_watch(pid_t pid) : pid_(pid) {
    if (pid_ > 0)
      thread_ = std::thread{[this] { run(); }};
  }

  ~server_watch() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  process_sample sample() {
    if (pid_ <= 0)
      return {};
    auto s = sample_process(pid_);
    note(s);
    return s;
  }

  uint64_t peak_rss() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_rss_;
  }

  int peak_threads() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_threads_;
  }

  int peak_fds() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_fds_;
  }

private:
  void note(const process_sample& s) {
    if (!s.ok)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    peak_rss_ = std::max(peak_rss_, s.rss_bytes);
    peak_threads_ = std::max(peak_threads_, s.threads);
    peak_fds_ = std::max(peak_fds_, s.fds);
  }

  void run() {
    while (!stop_) {
      note(sample_process(pid_));
      for (int i = 0; i < 10 && !stop_; ++i)
        sleep_for_ms(100);
    }
  }

  pid_t pid_;
  std::mutex mtx_;
  uint64_t peak_rss_ = 0;
  int peak_threads_ = 0;
  int peak_fds_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace mm::bench

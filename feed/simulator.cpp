#include "feed/simulator.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>

#include "feed/pacer.hpp"
#include "feed/redis_publisher.hpp"
#include "feed/tick_payload.hpp"
#include "logging/log.hpp"

namespace mm::feed {

namespace {

constexpr const char* well_known_tickers[] = {
  "AAPL", "MSFT", "GOOG", "AMZN", "META", "NVDA", "TSLA", "BRK.B",
  "JPM",  "V",    "JNJ",  "WMT",  "PG",   "MA",   "UNH",  "HD",
  "XOM",  "BAC",  "KO",   "PEP",  "DIS",  "NFLX", "INTC", "CSCO",
  "ORCL", "ADBE", "CRM",  "AMD",  "IBM",  "QCOM",
};

/// Set by run_simulator: the flag a signal handler sets to stop.
const volatile std::sig_atomic_t* stop_flag = nullptr;

bool stopped() {
  return *stop_flag != 0;
}

// --- time --------------------------------------------------------------------

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t mono_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

/// Sleeps until the monotonic time `t`; returns early on SIGINT/SIGTERM
/// (clock_nanosleep is never restarted after a signal handler ran).
void sleep_until(int64_t t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(t % 1'000'000'000);
  while (!stopped()) {
    auto rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc != EINTR)
      return;
  }
}

// --- the simulated market ----------------------------------------------------

struct instrument {
  std::string channel;
  double price;
};

} // namespace

std::vector<std::string> ticker_names(const simulator_options& opts) {
  if (!opts.ticker_list.empty())
    return opts.ticker_list;
  std::vector<std::string> names;
  names.reserve(opts.tickers);
  for (auto name : well_known_tickers) {
    if (names.size() == opts.tickers)
      return names;
    names.emplace_back(name);
  }
  char buf[32];
  for (size_t i = 1; names.size() < opts.tickers; ++i) {
    std::snprintf(buf, sizeof(buf), "TCK%04zu", i);
    names.emplace_back(buf);
  }
  return names;
}

namespace {

class market {
public:
  market(const simulator_options& opts, uint64_t seed) : rng_(seed) {
    std::uniform_real_distribution<double> start_price{10, 500};
    for (auto& name : ticker_names(opts))
      instruments_.push_back(
        {opts.prefix + name, std::round(start_price(rng_) * 100) / 100});
  }

  size_t size() const {
    return instruments_.size();
  }

  /// Moves the next ticker (round robin, so every ticker gets rate / N) one
  /// step and renders its payload into `buf`; returns the channel.
  const std::string& next(char (&buf)[max_tick_payload], size_t& len) {
    auto& x = instruments_[next_];
    next_ = (next_ + 1) % instruments_.size();
    // Geometric random walk: stays positive, moves about 0.05% per tick.
    x.price = std::max(0.01, x.price * std::exp(0.0005 * step_(rng_)));
    len = write_tick_payload(buf, std::round(x.price * 100) / 100,
                             volume_(rng_), clock_ns(CLOCK_REALTIME));
    return x.channel;
  }

private:
  std::mt19937_64 rng_;
  std::normal_distribution<double> step_{0, 1};
  std::uniform_int_distribution<int> volume_{1, 1000};
  std::vector<instrument> instruments_;
  size_t next_ = 0;
};

// --- publishing --------------------------------------------------------------

redis_settings settings_of(const simulator_options& opts) {
  redis_settings result;
  result.host = opts.redis.host;
  result.port = opts.redis.port;
  result.user = opts.redis_user;
  result.password = opts.redis_password;
  result.credentials_from = "--redis-user, --redis-password-file";
  return result;
}

class simulation {
public:
  simulation(const simulator_options& opts, uint64_t seed)
    : opts_(opts), market_(opts, seed) {
    // nop
  }

  /// Connects; returns what went wrong, or an empty string.
  std::string connect() {
    return redis_.connect(settings_of(opts_));
  }

  /// Publishes until the deadline or a stop signal; returns ticks confirmed
  /// by Redis.
  uint64_t run(int64_t t0) {
    const bool bounded = opts_.seconds > 0;
    pacer::settings pacing;
    pacing.rate = opts_.rate;
    // At high rates, wake up about once per millisecond and pipeline the
    // ticks of that millisecond instead of one round trip per tick.
    pacing.min_batch = pacer::batch_per_millisecond(opts_.rate);
    pacing.max_batch = 4096;
    // More than a second behind (a stalled Redis): drop the backlog.
    pacing.max_lag_ns = 1'000'000'000;
    if (bounded)
      pacing.deadline = t0 + static_cast<int64_t>(opts_.seconds * 1e9);
    pacer pace{pacing, t0};
    while (!stopped() && !pace.done()) {
      if (!redis_.connected()) {
        if (!reconnect(bounded, pacing.deadline))
          break;
        // Ticks missed while Redis was away are not sent in a burst.
        pace.restart(mono_ns());
        continue;
      }
      auto now = mono_ns();
      if (now < pace.next_due()) {
        sleep_until(pace.next_due());
        continue;
      }
      auto n = pace.take(now);
      if (n == 0)
        break;
      publish(n);
    }
    if (bounded && !stopped())
      sleep_until(pacing.deadline);
    return published_;
  }

private:
  void publish(uint64_t n) {
    char buf[max_tick_payload];
    for (uint64_t i = 0; i < n; ++i) {
      size_t len = 0;
      auto& channel = market_.next(buf, len);
      if (!redis_.append(channel, {buf, len})) {
        lost();
        return;
      }
    }
    auto replies = redis_.flush();
    published_ += replies.accepted;
    if (replies.refused > 0) {
      // E.g. an ACL change; report it without flooding the terminal.
      auto now = mono_ns();
      if (now - last_error_report_ > 1'000'000'000) {
        mm::log::error("mm-feed", "Redis refused PUBLISH",
                       {{"error", replies.refusal}});
        last_error_report_ = now;
      }
    }
    if (replies.lost > 0)
      lost();
  }

  void lost() {
    mm::log::warn("mm-feed", "lost Redis, reconnecting",
                  {{"redis", opts_.redis.to_string()},
                   {"error", redis_.error()}});
    redis_.disconnect();
  }

  /// Retries with backoff until connected, stopped or past the deadline.
  bool reconnect(bool bounded, int64_t deadline) {
    int64_t backoff = 100'000'000;
    while (!stopped()) {
      if (connect().empty()) {
        mm::log::info("mm-feed", "reconnected to Redis",
                      {{"redis", opts_.redis.to_string()}});
        return true;
      }
      auto wake = mono_ns() + backoff;
      if (bounded && wake >= deadline) {
        sleep_until(deadline);
        return false;
      }
      sleep_until(wake);
      backoff = std::min<int64_t>(backoff * 2, 2'000'000'000);
    }
    return false;
  }

  const simulator_options& opts_;
  redis_publisher redis_;
  market market_;
  uint64_t published_ = 0;
  int64_t last_error_report_ = 0;
};

} // namespace

int run_simulator(const simulator_options& opts,
                  const volatile std::sig_atomic_t& stop) {
  stop_flag = &stop;
  simulation f{opts, opts.seed};
  if (auto err = f.connect(); !err.empty()) {
    mm::log::error("mm-feed", "cannot reach Redis",
                   {{"redis", opts.redis.to_string()}, {"error", err}});
    return 1;
  }
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%g", opts.rate);
  mm::log::field rate_field{"rate", rate};
  rate_field.raw = true; // a number in JSON
  mm::log::info("mm-feed", "publishing",
                {{"tickers", opts.ticker_list.empty()
                               ? opts.tickers
                               : opts.ticker_list.size()},
                 rate_field,
                 {"redis", opts.redis.to_string()},
                 {"prefix", opts.prefix},
                 {"seed", opts.seed}});
  auto t0 = mono_ns();
  auto published = f.run(t0);
  auto elapsed = static_cast<double>(mono_ns() - t0) / 1e9;
  std::printf("published %llu ticks in %.3f s\n",
              static_cast<unsigned long long>(published), elapsed);
  return 0;
}

} // namespace mm::feed

// mm-feed: publishes a simulated market to Redis in the feed format of
// API.md ("Redis feed"), for demos, benchmarks and integration tests.
//
// Plain C++17 and hiredis' synchronous API: one connection, commands
// pipelined in small groups, one thread. It has no actors because it has
// nothing to coordinate; keeping CAF out keeps it a tool anyone can read.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "app/options/log_flags.hpp"
#include "app/options/options.hpp"
#include "feed/pacer.hpp"
#include "feed/redis_publisher.hpp"
#include "feed/tick_payload.hpp"
#include "logging/log.hpp"

namespace {

constexpr const char* description =
  R"(Publishes a simulated market to Redis pub/sub: one channel per ticker,
<prefix><TICKER>, payload {"price":189.25,"volume":100,"ts":<unix ns>}.
On exit it prints one line: "published N ticks in S s". Exit status 2 on
bad flags, 1 when Redis cannot be reached at start; a Redis that goes away
later is reconnected to.)";

constexpr const char* well_known_tickers[] = {
  "AAPL", "MSFT", "GOOG", "AMZN", "META", "NVDA", "TSLA", "BRK.B",
  "JPM",  "V",    "JNJ",  "WMT",  "PG",   "MA",   "UNH",  "HD",
  "XOM",  "BAC",  "KO",   "PEP",  "DIS",  "NFLX", "INTC", "CSCO",
  "ORCL", "ADBE", "CRM",  "AMD",  "IBM",  "QCOM",
};

constexpr size_t max_tickers = 1'000'000;
constexpr double max_rate = 10'000'000;

struct options {
  mm::host_port redis{"127.0.0.1", 6379};
  std::string prefix = "prices:";
  /// AUTH [user] password on every connection (empty password: none).
  std::string redis_user;
  std::string redis_password;
  size_t tickers = 20;
  std::vector<std::string> ticker_list;
  double rate = 100;
  double seconds = 0;
  uint64_t seed = 0;
  bool seed_given = false;
  std::string log_level = "info";
  std::string log_format = "text";
};

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int) {
  stop_requested = 1;
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
  while (!stop_requested) {
    auto rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc != EINTR)
      return;
  }
}

// --- flags -------------------------------------------------------------------

/// Trims and upper-cases the names, folding duplicates. It does not enforce
/// the server's ticker syntax: a simulator may well be asked to publish a
/// name the server must refuse.
bool parse_ticker_list(const std::string& str, std::vector<std::string>& out,
                       std::string& err) {
  out.clear();
  size_t pos = 0;
  while (pos <= str.size()) {
    auto comma = std::min(str.find(',', pos), str.size());
    std::string name = str.substr(pos, comma - pos);
    pos = comma + 1;
    auto first = name.find_first_not_of(" \t");
    auto last = name.find_last_not_of(" \t");
    name = first == std::string::npos ? ""
                                      : name.substr(first, last - first + 1);
    if (name.empty()) {
      err = "--ticker-list has an empty ticker name";
      return false;
    }
    for (auto& c : name) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        err = "--ticker-list: ticker \"" + name
              + "\" contains whitespace or control characters";
        return false;
      }
      if (c >= 'a' && c <= 'z')
        c = static_cast<char>(c - 'a' + 'A');
    }
    if (std::find(out.begin(), out.end(), name) == out.end())
      out.push_back(std::move(name));
  }
  return true;
}

/// Declares the flags of mm-feed over `opts`.
void declare_flags(mm::command_line& cl, options& opts) {
  cl.add_address("--redis", opts.redis, 1, "Redis to publish to");
  cl.add("--redis-prefix", opts.prefix, "channel prefix")->type_name("P");
  cl.add("--redis-user", opts.redis_user,
         "Redis ACL user for AUTH (needs --redis-password-file)")
    ->type_name("U");
  cl.bind_environment(
    cl.app()
      .add_option_function<std::string>(
        "--redis-password-file",
        [&opts](const std::string& path) {
          std::ifstream in{path};
          std::string line;
          if (!in || !std::getline(in, line) || line.empty())
            mm::bad_flag("--redis-password-file: cannot read a password "
                         "from the first line of \""
                         + path + "\"");
          while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
            line.pop_back();
          opts.redis_password = line;
        },
        "sends AUTH [U] PASSWORD (first line of F) on every connection")
      ->type_name("F"));
  auto tickers = cl.add("--tickers", opts.tickers,
                        "number of simulated tickers: AAPL, MSFT, GOOG,\n"
                        "... then TCK0001, TCK0002, ...")
                   ->check(mm::whole_number(1, max_tickers))
                   ->type_name("N");
  auto list = cl.bind_environment(
    cl.app()
      .add_option_function<std::string>(
        "--ticker-list",
        [&opts](const std::string& val) {
          std::string err;
          if (!parse_ticker_list(val, opts.ticker_list, err))
            mm::bad_flag(err);
        },
        "publish exactly these tickers instead of --tickers")
      ->type_name("A,B,C"));
  cl.add("--rate", opts.rate, "ticks per second across all tickers")
    ->check(mm::decimal(0, max_rate, true))
    ->type_name("R");
  cl.add("--seconds", opts.seconds,
         "stop after D seconds (0: until SIGINT or SIGTERM)")
    ->check(mm::decimal(0, 1e12))
    ->type_name("D");
  auto seed = cl.add("--seed", opts.seed,
                     "random seed for prices and volumes (default: random)")
                ->check(mm::whole_number(0, UINT64_MAX))
                ->type_name("S")
                ->default_str("");
  cl.check([tickers, list, seed, &opts] {
    if (!opts.redis_user.empty() && opts.redis_password.empty())
      mm::bad_flag("--redis-user: needs --redis-password-file");
    if (tickers->count() > 0 && list->count() > 0)
      mm::bad_flag("use either --tickers or --ticker-list, not both");
    opts.seed_given = seed->count() > 0;
  });
  mm::declare_log_flags(cl, opts.log_level, opts.log_format, "Logging");
}

// --- the simulated market ----------------------------------------------------

struct instrument {
  std::string channel;
  double price;
};

std::vector<std::string> ticker_names(const options& opts) {
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

class market {
public:
  market(const options& opts, uint64_t seed) : rng_(seed) {
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
  const std::string& next(char (&buf)[mm::feed::max_tick_payload],
                          size_t& len) {
    auto& x = instruments_[next_];
    next_ = (next_ + 1) % instruments_.size();
    // Geometric random walk: stays positive, moves about 0.05% per tick.
    x.price = std::max(0.01, x.price * std::exp(0.0005 * step_(rng_)));
    len = mm::feed::write_tick_payload(buf, std::round(x.price * 100) / 100,
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

mm::feed::redis_settings redis_settings(const options& opts) {
  mm::feed::redis_settings result;
  result.host = opts.redis.host;
  result.port = opts.redis.port;
  result.user = opts.redis_user;
  result.password = opts.redis_password;
  result.credentials_from = "--redis-user, --redis-password-file";
  return result;
}

class feed {
public:
  feed(const options& opts, uint64_t seed) : opts_(opts), market_(opts, seed) {
    // nop
  }

  /// Connects; returns what went wrong, or an empty string.
  std::string connect() {
    return redis_.connect(redis_settings(opts_));
  }

  /// Publishes until the deadline or a stop signal; returns ticks confirmed
  /// by Redis.
  uint64_t run(int64_t t0) {
    const bool bounded = opts_.seconds > 0;
    mm::feed::pacer::settings pacing;
    pacing.rate = opts_.rate;
    // At high rates, wake up about once per millisecond and pipeline the
    // ticks of that millisecond instead of one round trip per tick.
    pacing.min_batch = mm::feed::pacer::batch_per_millisecond(opts_.rate);
    pacing.max_batch = 4096;
    // More than a second behind (a stalled Redis): drop the backlog.
    pacing.max_lag_ns = 1'000'000'000;
    if (bounded)
      pacing.deadline = t0 + static_cast<int64_t>(opts_.seconds * 1e9);
    mm::feed::pacer pace{pacing, t0};
    while (!stop_requested && !pace.done()) {
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
    if (bounded && !stop_requested)
      sleep_until(pacing.deadline);
    return published_;
  }

private:
  void publish(uint64_t n) {
    char buf[mm::feed::max_tick_payload];
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
    while (!stop_requested) {
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

  const options& opts_;
  mm::feed::redis_publisher redis_;
  market market_;
  uint64_t published_ = 0;
  int64_t last_error_report_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  options opts;
  mm::command_line flags{"mm-feed", description};
  declare_flags(flags, opts);
  if (auto status = flags.parse(argc, argv))
    return *status;
  mm::configure_logging(opts.log_level, opts.log_format);
  if (!opts.seed_given)
    opts.seed = (static_cast<uint64_t>(std::random_device{}()) << 32)
                ^ std::random_device{}();
  // A write to a connection Redis closed must be an error we reconnect
  // from, not a signal that kills us.
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  feed f{opts, opts.seed};
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

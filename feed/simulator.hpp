#pragma once

// mm-feed's engine: a simulated market published to Redis in the feed format
// of API.md ("Redis feed"). Plain C++17 and hiredis' synchronous API: one
// connection, commands pipelined in small groups, one thread. It has no
// actors because it has nothing to coordinate.

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/host_port.hpp"

namespace mm::feed {

/// The most tickers and the highest rate mm-feed takes.
constexpr size_t max_tickers = 1'000'000;
constexpr double max_rate = 10'000'000;

/// mm-feed's settings (app/options/feed_flags.cpp declares their flags).
struct simulator_options {
  host_port redis{"127.0.0.1", 6379};
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

/// The tickers `opts` publish: --ticker-list, or the first --tickers of AAPL,
/// MSFT, GOOG, ... and then TCK0001, TCK0002, ...
std::vector<std::string> ticker_names(const simulator_options& opts);

/// Connects to opts.redis and publishes at opts.rate, round robin over the
/// tickers, until opts.seconds have passed (0: forever) or `stop` is set (by a
/// signal handler), reconnecting when Redis goes away. Prints "published N
/// ticks in S s" at the end. Returns the exit status: 1 if Redis cannot be
/// reached at the start, else 0.
int run_simulator(const simulator_options& opts,
                  const volatile std::sig_atomic_t& stop);

} // namespace mm::feed

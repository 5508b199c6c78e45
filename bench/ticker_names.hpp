#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace mm::bench {

/// The tickers of a benchmark run: BT00001, BT00002, ... mm-bench subscribes
/// and publishes these, and mm-ceiling generates them, so both agree on the
/// names without talking to each other.
inline std::vector<std::string> ticker_names(size_t n) {
  std::vector<std::string> result;
  result.reserve(n);
  char buf[32];
  for (size_t i = 1; i <= n; ++i) {
    std::snprintf(buf, sizeof(buf), "BT%05zu", i);
    result.emplace_back(buf);
  }
  return result;
}

} // namespace mm::bench

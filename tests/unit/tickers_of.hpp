#pragma once

// The `ticker` fields of a list of answers, in order (unit tests).

#include <string>
#include <vector>

namespace mm::test {

template <class T>
std::vector<std::string> tickers_of(const std::vector<T>& xs) {
  std::vector<std::string> result;
  for (auto& x : xs)
    result.push_back(x.ticker);
  return result;
}

} // namespace mm::test

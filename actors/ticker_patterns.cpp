#include "actors/ticker_patterns.hpp"

#include <caf/error.hpp>

#include "actors/errors.hpp"
#include "actors/tickers.hpp"

namespace mm {

namespace {

/// Longest ticker (actors/tickers.hpp).
constexpr size_t max_ticker_size = 16;

std::string_view trim(std::string_view x) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
  };
  while (!x.empty() && space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && space(x.back()))
    x.remove_suffix(1);
  return x;
}

std::string shown(std::string_view x) {
  return x.size() > 40 ? std::string{x.substr(0, 40)} + "..." : std::string{x};
}

caf::error bad(std::string what) {
  return caf::make_error(ec::bad_ticker, std::move(what));
}

} // namespace

caf::error ticker_patterns::add(std::string_view pattern) {
  auto x = trim(pattern);
  if (x.empty())
    return bad("empty pattern");
  if (x.back() == '*') {
    auto prefix = x.substr(0, x.size() - 1);
    if (prefix.empty()) {
      prefixes_.emplace();
      return caf::none;
    }
    // A prefix is the start of a ticker: the ticker grammar, up to the
    // longest ticker.
    auto norm = normalize_ticker(prefix);
    if (norm.empty() || norm.size() != prefix.size()
        || norm.find('*') != std::string::npos)
      return bad("malformed prefix \"" + shown(x)
                 + "\": a prefix is the start of a ticker (A-Z, 0-9, '.' "
                   "and '-', starting with a letter or digit) followed by "
                   "one '*'");
    prefixes_.emplace(std::move(norm));
    return caf::none;
  }
  auto norm = normalize_ticker(x);
  if (norm.empty())
    return bad("malformed ticker \"" + shown(x)
               + "\": a ticker is 1 to 16 characters of A-Z, 0-9, '.' and "
                 "'-', starting with a letter or digit (a prefix ends in "
                 "'*')");
  exact_.emplace(std::move(norm));
  return caf::none;
}

caf::error ticker_patterns::parse(std::string_view text) {
  size_t line = 0;
  while (!text.empty()) {
    ++line;
    auto end = text.find('\n');
    auto x = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (auto hash = x.find('#'); hash != std::string_view::npos)
      x = x.substr(0, hash);
    x = trim(x);
    if (x.empty())
      continue;
    if (auto err = add(x))
      return bad("line " + std::to_string(line) + ": " + text_of(err));
  }
  return caf::none;
}

bool ticker_patterns::matches(std::string_view ticker) const {
  if (exact_.find(ticker) != exact_.end())
    return true;
  if (prefixes_.empty())
    return false;
  // Every prefix of the ticker, the empty one ("*") and the whole included.
  auto n = std::min(ticker.size(), max_ticker_size);
  for (size_t i = 0; i <= n; ++i)
    if (prefixes_.find(ticker.substr(0, i)) != prefixes_.end())
      return true;
  return false;
}

std::vector<std::string> ticker_patterns::patterns() const {
  std::vector<std::string> result{exact_.begin(), exact_.end()};
  for (auto& x : prefixes_)
    result.push_back(x + "*");
  return result;
}

ticker_patterns ticker_patterns::from(const std::vector<std::string>& xs) {
  ticker_patterns result;
  for (auto& x : xs)
    result.add(x);
  return result;
}

} // namespace mm

#include "actors/tickers.hpp"

#include <algorithm>

#include <caf/expected.hpp>

#include "actors/errors.hpp"

namespace mm {

namespace {

bool is_head(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_tail(char c) {
  return is_head(c) || c == '.' || c == '-';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
         || c == '\v';
}

} // namespace

std::string normalize_ticker(std::string_view raw) {
  while (!raw.empty() && is_space(raw.front()))
    raw.remove_prefix(1);
  while (!raw.empty() && is_space(raw.back()))
    raw.remove_suffix(1);
  if (raw.empty() || raw.size() > 16)
    return {};
  std::string result(raw);
  for (auto& c : result)
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
  if (!is_head(result[0]))
    return {};
  if (!std::all_of(result.begin() + 1, result.end(), is_tail))
    return {};
  return result;
}

caf::expected<std::vector<std::string>>
normalize_tickers(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  out.reserve(raw.size());
  for (const auto& x : raw) {
    auto t = normalize_ticker(x);
    if (t.empty()) {
      std::string shown = x.size() > 40 ? x.substr(0, 40) + "..." : x;
      return caf::make_error(
        ec::bad_ticker,
        "malformed ticker \"" + shown
          + "\": a ticker is 1 to 16 characters of A-Z, 0-9, '.' and '-',"
            " starting with a letter or digit");
    }
    out.emplace_back(std::move(t));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

} // namespace mm

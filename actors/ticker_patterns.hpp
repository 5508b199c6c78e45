#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/fwd.hpp>

namespace mm {

/// A set of ticker patterns: exact tickers ("AAPL") and prefixes ending in
/// `*` ("FX.*"; "*" alone matches every ticker). Used by --ticker-allowlist.
/// Patterns are normalized like tickers (trimmed, upper-cased).
class ticker_patterns {
public:
  /// Adds one pattern. Fails with `ec::bad_ticker` and what is wrong with
  /// it, in words (see `text_of`).
  caf::error add(std::string_view pattern);

  /// Adds the patterns of `text`: one per line; blank lines and everything
  /// from a `#` on are ignored. Fails with `ec::bad_ticker` and
  /// "line N: ..." for the first bad line.
  caf::error parse(std::string_view text);

  /// Whether `ticker` (normalized) matches a pattern.
  bool matches(std::string_view ticker) const;

  bool empty() const {
    return exact_.empty() && prefixes_.empty();
  }

  /// Every pattern, in the form `add` takes (exact ones, then prefixes).
  std::vector<std::string> patterns() const;

  /// Builds the set from `xs` (patterns as `patterns()` returns them);
  /// bad ones are skipped.
  static ticker_patterns from(const std::vector<std::string>& xs);

private:
  std::set<std::string, std::less<>> exact_;
  /// Without the `*`.
  std::set<std::string, std::less<>> prefixes_;
};

} // namespace mm

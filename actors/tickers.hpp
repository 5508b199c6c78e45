#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mm {

/// Trims and upper-cases `raw`; returns an empty string if the result does
/// not match `^[A-Z0-9][A-Z0-9.\-]{0,15}$`.
std::string normalize_ticker(std::string_view raw);

/// Normalizes `raw` into `out` (sorted, duplicates folded). Returns an empty
/// string on success, otherwise what is wrong, in words, naming the ticker.
std::string normalize_tickers(const std::vector<std::string>& raw,
                              std::vector<std::string>& out);

} // namespace mm

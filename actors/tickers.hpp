#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/fwd.hpp>

namespace mm {

/// Trims and upper-cases `raw`; returns an empty string if the result does
/// not match `^[A-Z0-9][A-Z0-9.\-]{0,15}$`.
std::string normalize_ticker(std::string_view raw);

/// Normalizes `raw` (sorted, duplicates folded). Fails with `ec::bad_ticker`
/// and what is wrong, in words, naming the ticker (see `text_of`).
caf::expected<std::vector<std::string>>
normalize_tickers(const std::vector<std::string>& raw);

} // namespace mm

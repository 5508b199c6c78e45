#pragma once

// How mm-shell shows the inspector's answers: aligned tables with human
// units for people, one JSON document per command for scripts. Pure
// functions of the answers, tested without a network.

#include <cstdint>
#include <string>
#include <vector>

#include "actors/inspection.hpp"
#include "actors/price_update.hpp"

namespace mm::shell {

// --- human units ---

/// 999, 1.2k, 12k, 3.4M, 5.6G.
std::string human_count(uint64_t n);

/// 850ms, 4.2s, 12s, 5m3s, 2h5m, 3d4h.
std::string human_duration(int64_t ms);

/// "12s ago", or "never" for a negative age.
std::string human_ago(int64_t ms);

/// Ticks per second over `per_second` (one entry per second), e.g. "3.4/s".
std::string human_rate(const std::vector<uint32_t>& per_second);

/// Nanoseconds since the epoch as local "HH:MM:SS.mmm".
std::string clock_time(int64_t unix_nanos);

// --- tables ---

/// A table of text cells with a header row, columns padded to their widest
/// cell. Numbers read best right-aligned: mark their columns.
class table {
public:
  explicit table(std::vector<std::string> header,
                 std::vector<bool> right_aligned = {});

  void add(std::vector<std::string> row);

  /// The rows, each ending in a newline; blanks at line ends are trimmed.
  std::string render() const;

private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

// --- JSON ---

/// `x` as a JSON string literal, quotes included.
std::string json_string(const std::string& x);

/// `x` as a JSON number (shortest form that reads back the same value).
std::string json_number(double x);

// --- the answers (text ends in a newline; JSON is one line plus newline) ---

std::string stats_text(const node_stats& x);
std::string stats_json(const node_stats& x);

std::string sessions_text(const std::vector<session_info>& xs);
std::string sessions_json(const std::vector<session_info>& xs);

std::string session_text(const session_info& x);
std::string session_json(const session_info& x);

std::string tickers_text(const std::vector<ticker_info>& xs);
std::string tickers_json(const std::vector<ticker_info>& xs);

std::string ticker_text(const ticker_info& x);
std::string ticker_json(const ticker_info& x);

std::string nodes_text(const std::vector<node_info>& xs);
std::string nodes_json(const std::vector<node_info>& xs);

std::string actors_text(const actor_counts& x);
std::string actors_json(const actor_counts& x);

std::string kill_text(const std::string& id, const std::string& reason);
std::string kill_json(const std::string& id, const std::string& reason);

std::string help_text();
std::string help_json();

/// One tick of `watch`.
std::string tick_text(const price_update& x);
std::string tick_json(const price_update& x);

/// An error as `--json` reports it: {"error": "..."}.
std::string error_json(const std::string& what);

} // namespace mm::shell

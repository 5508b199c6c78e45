#pragma once

// mm-feed's flags on the options layer (its settings: feed/simulator.hpp).

#include <string>
#include <vector>

#include "app/options/options.hpp"
#include "feed/simulator.hpp"

namespace mm {

/// What `mm-feed --help` says before the flags.
extern const char* const feed_description;

/// Trims and upper-cases the names of a --ticker-list, folding duplicates;
/// false (and `err`) on an empty name or one with whitespace or control
/// characters. It does not enforce the server's ticker syntax: a simulator
/// may well be asked to publish a name the server must refuse.
bool parse_ticker_list(const std::string& str, std::vector<std::string>& out,
                       std::string& err);

/// Declares every mm-feed flag on `cl`, bound to `opts`, whose values are the
/// defaults, and the checks across flags.
void declare_feed_flags(command_line& cl, feed::simulator_options& opts);

} // namespace mm

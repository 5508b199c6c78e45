#pragma once

// Rendezvous (highest random weight) hashing of tickers over hubs: which hub
// owns a ticker, and which serves it while some hubs are down
// (docs/cluster.md, "Failover").

#include <cstddef>
#include <string>
#include <vector>

namespace mm {

/// Rendezvous (highest random weight) hashing: the index of the hub in
/// `hubs` that owns `ticker`. The same on every node and every platform
/// (FNV-1a plus a fixed mixer), so each ticker has exactly one hub.
size_t owner_of(const std::string& ticker,
                const std::vector<std::string>& hubs);

/// All hubs in rendezvous order for `ticker`: indexes into `hubs`, highest
/// weight first (the first is `owner_of`). Failover walks down this list.
std::vector<size_t> rendezvous_order(const std::string& ticker,
                                     const std::vector<std::string>& hubs);

/// The hub that serves `ticker` while `alive[i]` says whether `hubs[i]` is
/// up: the first alive hub in rendezvous order, or the owner when none is
/// (docs/cluster.md, "Failover"). Every edge that considers the same hubs
/// alive routes every ticker to the same hub.
size_t route_of(const std::string& ticker, const std::vector<std::string>& hubs,
                const std::vector<bool>& alive);

} // namespace mm

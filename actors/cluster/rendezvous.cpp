#include "actors/cluster/rendezvous.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace mm {

namespace {

uint64_t fnv1a(uint64_t h, const std::string& x) {
  for (auto c : x) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// splitmix64's finalizer: spreads FNV's weak low bits over the word.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

} // namespace

size_t owner_of(const std::string& ticker,
                const std::vector<std::string>& hubs) {
  size_t best = 0;
  uint64_t best_weight = 0;
  for (size_t i = 0; i < hubs.size(); ++i) {
    // A separator, so that ("AB", "C:1") and ("A", "BC:1") differ.
    auto h = fnv1a(fnv1a(14695981039346656037ull, ticker) ^ 0xff, hubs[i]);
    auto weight = mix(h);
    // Ties (never seen in practice) go to the smaller address: still the
    // same answer on every node.
    if (i == 0 || weight > best_weight
        || (weight == best_weight && hubs[i] < hubs[best])) {
      best = i;
      best_weight = weight;
    }
  }
  return best;
}

std::vector<size_t> rendezvous_order(const std::string& ticker,
                                     const std::vector<std::string>& hubs) {
  std::vector<std::pair<uint64_t, size_t>> weighted;
  for (size_t i = 0; i < hubs.size(); ++i)
    weighted.emplace_back(
      mix(fnv1a(fnv1a(14695981039346656037ull, ticker) ^ 0xff, hubs[i])), i);
  // Highest weight first; ties to the smaller address, as in owner_of.
  std::sort(weighted.begin(), weighted.end(),
            [&](const auto& x, const auto& y) {
              if (x.first != y.first)
                return x.first > y.first;
              return hubs[x.second] < hubs[y.second];
            });
  std::vector<size_t> result;
  result.reserve(weighted.size());
  for (auto& x : weighted)
    result.push_back(x.second);
  return result;
}

size_t route_of(const std::string& ticker, const std::vector<std::string>& hubs,
                const std::vector<bool>& alive) {
  auto order = rendezvous_order(ticker, hubs);
  for (auto i : order)
    if (i < alive.size() && alive[i])
      return i;
  // No hub up: wait for the owner, as without failover.
  return order.empty() ? 0 : order.front();
}

} // namespace mm

#pragma once

// Reads a node's `stats` the way an operator does: `mm-shell -c stats --json`
// against the node's admin endpoint.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mm::test {

/// The `stats` document of docs/api.md.
struct node_stats {
  int64_t sessions = -1;
  int64_t streams = -1;
  int64_t broadcasters = -1;
  int64_t redis_subscriptions = -1;
  int64_t actors_running = -1;
  int64_t sessions_created_total = -1;
  std::map<std::string, int64_t> sessions_ended_total;
  int64_t ticks_received_total = -1;
  int64_t ticks_malformed_total = -1;
  int64_t updates_delivered_total = -1;
  int64_t updates_conflated_total = -1;
  int64_t batches_sent_total = -1;
  bool redis_connected = false;
  int64_t uptime_ms = -1;
  int64_t history_entries = -1;
  int64_t history_bytes = -1;
  /// The raw JSON document.
  std::string json;

  /// Sessions ended for `reason` (0 if none).
  int64_t ended(const std::string& reason) const;

  /// No sessions, streams, broadcasters or Redis subscriptions.
  bool idle() const {
    return sessions == 0 && streams == 0 && broadcasters == 0
           && redis_subscriptions == 0;
  }

  std::string describe() const;
};

/// Runs mm-shell against one node's admin endpoint.
class admin_client {
public:
  explicit admin_client(std::string address) : address_(std::move(address)) {
    // nop
  }

  /// Runs `mm-shell --connect ADDRESS -c COMMAND [--json]`; returns its
  /// stdout and sets `status` to its exit status.
  std::string run(const std::string& command, bool json, int* status) const;

  /// The node's stats; fails the current test if they cannot be read.
  node_stats stats() const;

private:
  std::string address_;
};

/// Parses the `stats` JSON document; throws std::runtime_error if malformed.
node_stats parse_stats(const std::string& json);

/// Channels matching `pattern` on the Redis at 127.0.0.1:`port`
/// (PUBSUB CHANNELS).
std::vector<std::string> redis_channels(uint16_t port,
                                        const std::string& pattern);

} // namespace mm::test

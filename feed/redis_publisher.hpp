#pragma once

// One hiredis connection that PUBLISHes feed payloads, one at a time or
// pipelined: mm-feed, mm-bench's feed and the integration tests' publisher.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct redisContext;

namespace mm::feed {

/// Where and how to connect.
struct redis_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  /// AUTH [user] password on connect (empty password: no AUTH).
  std::string user;
  std::string password;
  /// Named in the message when Redis refuses the credentials, e.g. the
  /// flags that gave them.
  std::string credentials_from;
  /// Connecting, and each blocking call, give up after this (0: the
  /// connect after 2 s, the calls never).
  uint32_t timeout_ms = 2000;
};

class redis_publisher {
public:
  redis_publisher() = default;
  ~redis_publisher();

  redis_publisher(const redis_publisher&) = delete;
  redis_publisher& operator=(const redis_publisher&) = delete;

  /// Connects, sends AUTH and checks with a PING that Redis answers (a port
  /// that accepts TCP but is not Redis fails here). Returns an empty string
  /// or what went wrong; a previous connection is closed first.
  std::string connect(const redis_settings& cfg);

  bool connected() const {
    return ctx_ != nullptr;
  }

  /// Closes the connection.
  void disconnect();

  /// What broke the connection, in words (hiredis says a bare EAGAIN for
  /// its own timeout: that reads "no reply within N s").
  std::string error() const;

  /// PUBLISH and its reply: the receivers Redis counted, -1 if Redis
  /// refused it, nothing if the connection broke (see `error`).
  std::optional<long long> publish(std::string_view channel,
                                   std::string_view payload);

  /// Queues a PUBLISH for `flush`; false if the connection broke.
  bool append(std::string_view channel, std::string_view payload);

  /// The replies of the PUBLISHes queued since the last flush.
  struct replies {
    /// Accepted by Redis.
    uint64_t accepted = 0;
    /// Refused by Redis (e.g. an ACL change), and the first refusal.
    uint64_t refused = 0;
    std::string refusal;
    /// Queued but without a reply: the connection broke (see `error`).
    uint64_t lost = 0;
  };

  /// Sends what `append` queued and reads the replies.
  replies flush();

  /// PUBSUB NUMSUB: subscribers of `channel`, -1 on an unexpected reply,
  /// nothing if the connection broke.
  std::optional<long long> subscribers(std::string_view channel);

private:
  redisContext* ctx_ = nullptr;
  uint32_t timeout_ms_ = 0;
  uint64_t queued_ = 0;
};

} // namespace mm::feed

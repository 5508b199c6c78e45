#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct redisReader;
struct redisReply;

namespace mm {

/// One reply of a Redis subscriber connection, decoded. Views point into the
/// `resp_feed` that produced it and stay valid until its next call.
struct pubsub_event {
  enum class kind {
    /// A published payload: `channel`, `payload`.
    message,
    /// A SUBSCRIBE confirmation: `channel`, `count` (or -1 if not an integer).
    subscribe,
    /// An UNSUBSCRIBE confirmation: `channel`, `count` (or -1).
    unsubscribe,
    /// An error reply from Redis: `text`.
    error,
    /// A reply a subscriber connection never gets: `text` says what it was.
    unexpected,
    /// The answer to PING: ["pong", ""] while subscribed, +PONG otherwise.
    pong,
    /// A well-formed push we never asked for (pmessage): ignore it.
    ignored,
  };
  kind type = kind::ignored;
  std::string_view channel;
  std::string_view payload;
  int64_t count = -1;
  std::string_view text;
};

/// Decodes the byte stream of a Redis subscriber connection into pub/sub
/// events with hiredis' RESP reader. Frames may arrive split at any byte.
/// Has no I/O of its own, so the reply path runs (and is fuzzed) without a
/// network. Not thread-safe.
class resp_feed {
public:
  /// Refused before hiredis allocates them: a subscriber connection never
  /// sees more than three elements, and hiredis would otherwise allocate a
  /// pointer per announced element up front (16 GiB for `*2147483647`).
  static constexpr int max_array_elements = 1024;

  enum class status {
    /// `out` holds the next event.
    event,
    /// No complete reply buffered; feed more bytes.
    need_more,
    /// The stream is beyond repair; `error()` says why, `reset()` restarts.
    protocol_error,
  };

  resp_feed();
  ~resp_feed();
  resp_feed(const resp_feed&) = delete;
  resp_feed& operator=(const resp_feed&) = delete;

  /// Appends `size` bytes read from the connection. Returns false after a
  /// protocol error (see `error()`).
  bool feed(const char* data, size_t size);

  /// Decodes the next complete reply into `out`.
  status next(pubsub_event& out);

  /// Why the last call returned `protocol_error`.
  const std::string& error() const {
    return error_;
  }

  /// Forgets all buffered bytes and any error, as for a fresh connection.
  void reset();

private:
  struct reader_deleter {
    void operator()(redisReader* ptr) const;
  };
  struct reply_deleter {
    void operator()(redisReply* ptr) const;
  };

  status fail();
  void decode(const redisReply& x, pubsub_event& out);

  std::unique_ptr<redisReader, reader_deleter> reader_;
  /// The reply `next` returned last; events point into it.
  std::unique_ptr<redisReply, reply_deleter> reply_;
  std::string error_;
  /// Backs `pubsub_event::text` for replies described in our own words.
  std::string text_;
};

} // namespace mm

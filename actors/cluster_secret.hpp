#pragma once

// The cluster shared secret (--cluster-secret-file, docs/security.md): both
// ends of a cluster link prove that they know the secret with an HMAC
// challenge before any BASP byte is exchanged. No actors here: the protocol
// on a plain socket, and the thread that runs its server side for a hub
// (errors are caf::error with an `ec`, actors/errors.hpp).
//
// Protocol (mutual, replay-safe: each side's proof covers a fresh nonce of
// the other side):
//   hub  -> edge: "MMCS1" nonce_s                      (5 + 32 bytes)
//   edge -> hub:  nonce_c HMAC(secret, "client" nonce_s nonce_c)  (32 + 32)
//   hub  -> edge: HMAC(secret, "server" nonce_c nonce_s)          (32)
// HMAC is HMAC-SHA256; nonces come from RAND_bytes; proofs are compared in
// constant time. Any mismatch, short read or timeout closes the connection.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <caf/fwd.hpp>

namespace mm::cluster_secret {

/// The shortest secret accepted (bytes, after the trailing newline is
/// stripped).
constexpr size_t min_secret_size = 32;

/// The hub's first bytes: magic and protocol version.
constexpr std::string_view magic = "MMCS1";

constexpr size_t nonce_size = 32;
constexpr size_t mac_size = 32;

using clock_type = std::chrono::steady_clock;

/// Reads a secret file: the whole file but one trailing newline ("\n" or
/// "\r\n"). Fails with `ec::bad_config` and what is wrong (see `text_of`)
/// when the file cannot be read or holds fewer than `min_secret_size` bytes.
caf::expected<std::string> read_secret_file(const std::string& path);

/// The hub's side of one challenge on a non-blocking socket, one step at a
/// time: call `advance` whenever the socket is ready for `wanted()`.
class server_challenge {
public:
  enum class status {
    /// Waiting for the socket (see `wanted`).
    again,
    /// The peer proved the secret and has our proof: hand the socket on.
    done,
    /// The peer failed (see `error`): close the socket.
    failed,
  };

  explicit server_challenge(std::string_view secret);

  /// Does what the socket allows now without blocking.
  status advance(int fd);

  /// The poll events the next `advance` waits for (POLLIN or POLLOUT).
  short wanted() const;

  /// Why the challenge failed, in words for the log.
  const std::string& error() const {
    return error_;
  }

private:
  status fail(std::string why);

  enum class phase { send_hello, read_answer, send_proof, done, failed };

  std::string secret_;
  phase phase_ = phase::send_hello;
  std::array<unsigned char, magic.size() + nonce_size> hello_;
  std::array<unsigned char, nonce_size + mac_size> answer_;
  std::array<unsigned char, mac_size> proof_;
  size_t pos_ = 0;
  std::string error_;
};

/// The edge's side on a connected socket (blocking or not): answers the
/// hub's challenge and checks the hub's proof, waiting until `deadline` at
/// most. Reads exactly the challenge's bytes, never what follows (BASP).
/// Fails with `ec::handshake_failed` and why, in words for the log ("the
/// hub refused our secret ...", see `text_of`).
caf::error run_client(int fd, std::string_view secret,
                      clock_type::time_point deadline);

/// Runs `server_challenge` to its end on `fd`, waiting until `deadline` at
/// most (tests, and any caller that may block). Fails with
/// `ec::handshake_failed` and why.
caf::error run_server(int fd, std::string_view secret,
                      clock_type::time_point deadline);

/// Connects to `host`:`port` (name lookup, then each address in turn),
/// waiting until `deadline` at most. Returns a connected non-blocking
/// socket with close-on-exec, or fails with `caf::sec::cannot_connect_to_node`
/// (CAF's code for a failed connect) and why (`text_of`).
caf::expected<int> connect_tcp(const std::string& host, uint16_t port,
                               clock_type::time_point deadline);

/// "HOST:PORT" of the peer of `fd` ("[v6]:PORT" for IPv6), or "unknown".
std::string peer_of(int fd);

/// The host part of what `peer_of` returns ("unknown" stays).
std::string host_of(const std::string& peer);

/// Runs the hub's side of many challenges on one thread of its own, each
/// with its own deadline, so that a peer that stalls holds nobody up.
class server {
public:
  /// Called on the server's thread when a challenge ends. On success
  /// `err` is none and the callee owns `fd`; on failure `fd` is -1 (already
  /// closed) and `err` is `ec::handshake_failed` with why (`text_of`).
  using done_fn =
    std::function<void(int fd, const std::string& peer, const caf::error& err)>;

  /// At most `max_pending` challenges run at once, at most `max_per_host`
  /// of them for peers of one address (so that one host that connects and
  /// stalls cannot crowd out the others); a connection beyond is closed at
  /// once (and reported). Each has `timeout` to complete.
  server(std::string secret, std::chrono::milliseconds timeout,
         size_t max_pending, size_t max_per_host);

  /// Stops the thread; closes the sockets of unfinished challenges without
  /// calling their `done`.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Starts the challenge on `fd` (the server owns it from now on). Calls
  /// `done` exactly once, unless the server is stopped first.
  void add(int fd, done_fn done);

  /// Stops as the destructor does; `add` closes the socket from then on.
  void stop();

  /// Challenges under way (for tests).
  size_t pending() const;

private:
  struct job {
    int fd;
    std::string peer;
    std::string host;
    clock_type::time_point deadline;
    server_challenge challenge;
    done_fn done;
  };

  void run();

  std::string secret_;
  std::chrono::milliseconds timeout_;
  size_t max_pending_;
  size_t max_per_host_;
  int wake_fd_ = -1;
  mutable std::mutex mtx_;
  std::vector<job> incoming_;
  size_t pending_ = 0;
  std::map<std::string, size_t> per_host_;
  bool stopped_ = false;
  std::thread thread_;
};

} // namespace mm::cluster_secret

#include "actors/cluster_secret.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"

namespace mm::cluster_secret {

namespace {

using mac = std::array<unsigned char, mac_size>;

/// HMAC-SHA256(secret, label | a | b).
mac proof_of(std::string_view secret, std::string_view label,
             const unsigned char* a, const unsigned char* b) {
  std::vector<unsigned char> data;
  data.reserve(label.size() + 2 * nonce_size);
  data.insert(data.end(), label.begin(), label.end());
  data.insert(data.end(), a, a + nonce_size);
  data.insert(data.end(), b, b + nonce_size);
  mac result{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       data.data(), data.size(), result.data(), &len);
  return result;
}

bool same(const unsigned char* x, const unsigned char* y) {
  return CRYPTO_memcmp(x, y, mac_size) == 0;
}

int millis_until(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  if (left.count() <= 0)
    return 0;
  // Round up, so that a poll does not wake just before the deadline.
  return static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
}

enum class io_result { ok, closed, timeout, failed };

/// Waits for `events` on `fd` until `deadline`.
io_result wait_for(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    pollfd pfd{fd, events, 0};
    auto n = ::poll(&pfd, 1, millis_until(deadline));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_result::failed;
    if (n == 0)
      return io_result::timeout;
    return io_result::ok;
  }
}

/// Reads exactly `len` bytes into `buf` (`got` counts them).
io_result read_exact(int fd, unsigned char* buf, size_t len, size_t& got,
                     clock_type::time_point deadline) {
  got = 0;
  while (got < len) {
    if (auto r = wait_for(fd, POLLIN, deadline); r != io_result::ok)
      return r;
    auto n = ::recv(fd, buf + got, len - got, MSG_DONTWAIT);
    if (n == 0)
      return io_result::closed;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return errno == ECONNRESET ? io_result::closed : io_result::failed;
    }
    got += static_cast<size_t>(n);
  }
  return io_result::ok;
}

/// Writes all `len` bytes of `buf`.
io_result write_all(int fd, const unsigned char* buf, size_t len,
                    clock_type::time_point deadline) {
  size_t done = 0;
  while (done < len) {
    if (auto r = wait_for(fd, POLLOUT, deadline); r != io_result::ok)
      return r;
    auto n = ::send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return errno == EPIPE || errno == ECONNRESET ? io_result::closed
                                                   : io_result::failed;
    }
    done += static_cast<size_t>(n);
  }
  return io_result::ok;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

caf::error handshake_failed(std::string why) {
  return caf::make_error(ec::handshake_failed, std::move(why));
}

} // namespace

caf::expected<std::string> read_secret_file(const std::string& path) {
  auto unreadable = [&path] {
    return caf::make_error(ec::bad_config, "cannot read \"" + path + "\"");
  };
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return unreadable();
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  if (in.bad())
    return unreadable();
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
  }
  if (text.size() < min_secret_size)
    return caf::make_error(ec::bad_config,
                           "\"" + path + "\" holds "
                             + std::to_string(text.size())
                             + " bytes; the secret needs at least "
                             + std::to_string(min_secret_size)
                             + " (make one with: openssl rand -hex 32 > FILE)");
  return text;
}

// -- server_challenge ---------------------------------------------------------

server_challenge::server_challenge(std::string_view secret) : secret_(secret) {
  std::copy(magic.begin(), magic.end(), hello_.begin());
  if (RAND_bytes(hello_.data() + magic.size(), nonce_size) != 1)
    fail("no random bytes for the challenge (RAND_bytes failed)");
}

server_challenge::status server_challenge::fail(std::string why) {
  phase_ = phase::failed;
  error_ = std::move(why);
  return status::failed;
}

short server_challenge::wanted() const {
  return phase_ == phase::read_answer ? POLLIN : POLLOUT;
}

server_challenge::status server_challenge::advance(int fd) {
  for (;;) {
    switch (phase_) {
      case phase::failed: return status::failed;
      case phase::done: return status::done;
      case phase::send_hello:
      case phase::send_proof: {
        auto* buf = phase_ == phase::send_hello ? hello_.data() : proof_.data();
        auto len = phase_ == phase::send_hello ? hello_.size() : proof_.size();
        auto n = ::send(fd, buf + pos_, len - pos_,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return status::again;
          return fail("cannot send to it: " + errno_text(errno));
        }
        pos_ += static_cast<size_t>(n);
        if (pos_ < len)
          return status::again;
        pos_ = 0;
        if (phase_ == phase::send_proof) {
          phase_ = phase::done;
          return status::done;
        }
        phase_ = phase::read_answer;
        break;
      }
      case phase::read_answer: {
        auto n = ::recv(fd, answer_.data() + pos_, answer_.size() - pos_,
                        MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return status::again;
          if (errno != ECONNRESET)
            return fail("cannot read from it: " + errno_text(errno));
          n = 0;
        }
        if (n == 0)
          return fail(pos_ == 0 ? "it closed the connection without answering "
                                  "the challenge"
                                : "it closed the connection after "
                                    + std::to_string(pos_) + " of "
                                    + std::to_string(answer_.size())
                                    + " bytes of its answer");
        pos_ += static_cast<size_t>(n);
        if (pos_ < answer_.size())
          return status::again;
        auto* nonce_s = hello_.data() + magic.size();
        auto* nonce_c = answer_.data();
        auto expected = proof_of(secret_, "client", nonce_s, nonce_c);
        if (!same(expected.data(), answer_.data() + nonce_size))
          return fail("wrong secret: its answer does not prove our secret "
                      "(another --cluster-secret-file, none, or not a "
                      "marketmonitor node)");
        proof_ = proof_of(secret_, "server", nonce_c, nonce_s);
        pos_ = 0;
        phase_ = phase::send_proof;
        break;
      }
    }
  }
}

// -- blocking sides -----------------------------------------------------------

caf::error run_client(int fd, std::string_view secret,
                      clock_type::time_point deadline) {
  std::array<unsigned char, magic.size() + nonce_size> hello;
  size_t got = 0;
  switch (read_exact(fd, hello.data(), hello.size(), got, deadline)) {
    case io_result::ok: break;
    case io_result::closed:
      return handshake_failed(
        got == 0 ? "the hub closed the connection before its challenge "
                   "(it refuses us, or has no --cluster-secret-file)"
                 : "the hub closed the connection in the middle of its "
                   "challenge");
    case io_result::timeout:
      return handshake_failed(
        got == 0 ? "no challenge from the hub in time (is it a hub "
                   "with --cluster-secret-file?)"
                 : "the hub's challenge did not arrive in full in time");
    case io_result::failed:
      return handshake_failed("cannot read the hub's challenge: "
                              + errno_text(errno));
  }
  if (!std::equal(magic.begin(), magic.end(), hello.begin()))
    return handshake_failed(
      "the hub did not send the cluster-secret challenge (does it run "
      "with --cluster-secret-file?)");
  const auto* nonce_s = hello.data() + magic.size();
  std::array<unsigned char, nonce_size + mac_size> answer;
  if (RAND_bytes(answer.data(), nonce_size) != 1)
    return handshake_failed(
      "no random bytes for our nonce (RAND_bytes failed)");
  const auto* nonce_c = answer.data();
  auto ours = proof_of(secret, "client", nonce_s, nonce_c);
  std::copy(ours.begin(), ours.end(), answer.begin() + nonce_size);
  switch (write_all(fd, answer.data(), answer.size(), deadline)) {
    case io_result::ok: break;
    case io_result::closed:
      return handshake_failed(
        "the hub closed the connection before our answer");
    case io_result::timeout:
      return handshake_failed("cannot send our answer in time");
    case io_result::failed:
      return handshake_failed("cannot send our answer: " + errno_text(errno));
  }
  mac theirs;
  switch (read_exact(fd, theirs.data(), theirs.size(), got, deadline)) {
    case io_result::ok: break;
    case io_result::closed:
      return handshake_failed(
        "the hub refused our secret: it closed the connection after "
        "our proof (is its --cluster-secret-file the same?)");
    case io_result::timeout:
      return handshake_failed("no proof from the hub in time");
    case io_result::failed:
      return handshake_failed("cannot read the hub's proof: "
                              + errno_text(errno));
  }
  auto expected = proof_of(secret, "server", nonce_c, nonce_s);
  if (!same(expected.data(), theirs.data()))
    return handshake_failed(
      "the hub's proof is wrong: it does not know our secret (is its "
      "--cluster-secret-file the same?)");
  return caf::none;
}

caf::error run_server(int fd, std::string_view secret,
                      clock_type::time_point deadline) {
  server_challenge ch{secret};
  for (;;) {
    switch (ch.advance(fd)) {
      case server_challenge::status::done: return caf::none;
      case server_challenge::status::failed:
        return handshake_failed(ch.error());
      case server_challenge::status::again: break;
    }
    auto r = wait_for(fd, ch.wanted(), deadline);
    if (r == io_result::timeout)
      return handshake_failed("it did not complete the challenge in time");
    if (r == io_result::failed)
      return handshake_failed("poll failed: " + errno_text(errno));
  }
}

caf::expected<int> connect_tcp(const std::string& host, uint16_t port,
                               clock_type::time_point deadline) {
  std::string error;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port_str = std::to_string(port);
  if (auto rc = ::getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res);
      rc != 0) {
    return caf::make_error(caf::sec::cannot_connect_to_node,
                           "cannot resolve " + host + ": "
                             + ::gai_strerror(rc));
  }
  error = "no address for " + host;
  int result = -1;
  for (auto* ai = res; ai != nullptr && result < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family,
                      ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      error = "socket: " + errno_text(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        switch (wait_for(fd, POLLOUT, deadline)) {
          case io_result::ok: {
            socklen_t len = sizeof(err);
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
              err = errno;
            break;
          }
          case io_result::timeout: err = ETIMEDOUT; break;
          default: err = errno; break;
        }
      }
    }
    if (err == 0) {
      result = fd;
    } else {
      error = errno_text(err);
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (result < 0)
    return caf::make_error(caf::sec::cannot_connect_to_node, std::move(error));
  return result;
}

std::string peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string{buf} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string{buf}
           + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unknown";
}

// -- server -------------------------------------------------------------------

server::server(std::string secret, std::chrono::milliseconds timeout,
               size_t max_pending, size_t max_per_host)
  : secret_(std::move(secret)),
    timeout_(timeout),
    max_pending_(max_pending),
    max_per_host_(max_per_host) {
  // nop: the thread starts with the first challenge
}

server::~server() {
  stop();
}

void server::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return;
    stopped_ = true;
    t = std::move(thread_);
  }
  if (t.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
    t.join();
  }
  for (auto& j : incoming_)
    ::close(j.fd);
  incoming_.clear();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
  wake_fd_ = -1;
}

size_t server::pending() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pending_;
}

std::string host_of(const std::string& peer) {
  auto colon = peer.rfind(':');
  if (colon == std::string::npos)
    return peer;
  return peer.substr(0, colon);
}

void server::add(int fd, done_fn done) {
  auto peer = peer_of(fd);
  auto host = host_of(peer);
  std::string refused;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_) {
      ::close(fd);
      return;
    }
    if (wake_fd_ < 0)
      wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      refused = "cannot start the challenge (eventfd: " + errno_text(errno)
                + ")";
    } else if (pending_ >= max_pending_) {
      refused = "too many challenges under way (" + std::to_string(pending_)
                + "); dropped at once";
    } else if (per_host_[host] >= max_per_host_) {
      refused = "too many challenges under way from " + host + " ("
                + std::to_string(per_host_[host]) + "); dropped at once";
    } else {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      incoming_.push_back(job{fd, peer, host, clock_type::now() + timeout_,
                              server_challenge{secret_}, std::move(done)});
      ++pending_;
      ++per_host_[host];
      if (!thread_.joinable())
        thread_ = std::thread{[this] { run(); }};
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
      return;
    }
  }
  ::close(fd);
  done(-1, peer, handshake_failed(std::move(refused)));
}

void server::run() {
  std::vector<job> jobs;
  std::vector<pollfd> pfds;
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        break;
      for (auto& j : incoming_)
        jobs.push_back(std::move(j));
      incoming_.clear();
    }
    // Start each new challenge at once: the hello fits any socket buffer.
    pfds.clear();
    pfds.push_back(pollfd{wake_fd_, POLLIN, 0});
    auto next = clock_type::time_point::max();
    for (auto& j : jobs) {
      pfds.push_back(pollfd{j.fd, j.challenge.wanted(), 0});
      next = std::min(next, j.deadline);
    }
    auto n = ::poll(pfds.data(), pfds.size(),
                    jobs.empty() ? -1 : millis_until(next));
    if (n < 0 && errno != EINTR)
      break;
    if (pfds[0].revents != 0) {
      uint64_t count = 0;
      [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof(count));
    }
    auto now = clock_type::now();
    size_t finished = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
      auto& j = jobs[i];
      auto ready = n > 0 && pfds[i + 1].revents != 0;
      auto st = server_challenge::status::again;
      if (ready)
        st = j.challenge.advance(j.fd);
      if (st == server_challenge::status::again && now >= j.deadline)
        st = server_challenge::status::failed;
      if (st == server_challenge::status::again)
        continue;
      ++finished;
      {
        // Before `done`: whoever it tells sees the count without this one.
        std::lock_guard<std::mutex> guard{mtx_};
        --pending_;
        if (--per_host_[j.host] == 0)
          per_host_.erase(j.host);
      }
      auto done = std::move(j.done);
      if (st == server_challenge::status::done) {
        done(j.fd, j.peer, caf::error{});
      } else {
        ::close(j.fd);
        auto why = j.challenge.error();
        if (why.empty())
          why = "it did not complete the challenge within "
                + std::to_string(timeout_.count()) + " ms";
        done(-1, j.peer, handshake_failed(std::move(why)));
      }
      j.fd = -1;
    }
    if (finished > 0)
      jobs.erase(std::remove_if(jobs.begin(), jobs.end(),
                                [](const job& j) { return j.fd < 0; }),
                 jobs.end());
  }
  for (auto& j : jobs)
    ::close(j.fd);
}

} // namespace mm::cluster_secret

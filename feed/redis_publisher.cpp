#include "feed/redis_publisher.hpp"

#include <cerrno>
#include <memory>

#include <hiredis/hiredis.h>

namespace mm::feed {

namespace {

struct reply_deleter {
  void operator()(void* r) const {
    freeReplyObject(r);
  }
};

using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

timeval to_timeval(uint32_t ms) {
  return {static_cast<time_t>(ms / 1000),
          static_cast<suseconds_t>(ms % 1000) * 1000};
}

} // namespace

redis_publisher::~redis_publisher() {
  disconnect();
}

void redis_publisher::disconnect() {
  if (ctx_ != nullptr)
    redisFree(ctx_);
  ctx_ = nullptr;
  queued_ = 0;
}

std::string redis_publisher::connect(const redis_settings& cfg) {
  disconnect();
  timeout_ms_ = cfg.timeout_ms;
  auto timeout = to_timeval(cfg.timeout_ms > 0 ? cfg.timeout_ms : 2000);
  ctx_ = redisConnectWithTimeout(cfg.host.c_str(), cfg.port, timeout);
  auto fail = [this](std::string what) {
    disconnect();
    return what;
  };
  if (ctx_ == nullptr)
    return "out of memory";
  if (ctx_->err)
    return fail(ctx_->errstr);
  // A Redis that hangs must not hang the caller.
  if (cfg.timeout_ms > 0)
    redisSetTimeout(ctx_, timeout);
  redisEnableKeepAlive(ctx_);
  if (!cfg.password.empty()) {
    reply_ptr auth{static_cast<redisReply*>(
      cfg.user.empty() ? redisCommand(ctx_, "AUTH %s", cfg.password.c_str())
                       : redisCommand(ctx_, "AUTH %s %s", cfg.user.c_str(),
                                      cfg.password.c_str()))};
    if (!auth)
      return fail(error());
    if (auth->type == REDIS_REPLY_ERROR)
      return fail("Redis refused our credentials"
                  + (cfg.credentials_from.empty()
                       ? std::string{}
                       : " (" + cfg.credentials_from + ")")
                  + ": " + auth->str);
  }
  reply_ptr pong{static_cast<redisReply*>(redisCommand(ctx_, "PING"))};
  if (!pong)
    return fail(error());
  if (pong->type == REDIS_REPLY_ERROR)
    return fail(std::string{"PING refused: "} + pong->str);
  return {};
}

std::string redis_publisher::error() const {
  if (ctx_ == nullptr)
    return "not connected";
  if (ctx_->err == REDIS_ERR_IO && errno == EAGAIN)
    return "no reply within " + std::to_string(timeout_ms_ / 1000) + " s";
  return ctx_->errstr;
}

std::optional<long long> redis_publisher::publish(std::string_view channel,
                                                  std::string_view payload) {
  if (ctx_ == nullptr)
    return std::nullopt;
  reply_ptr reply{static_cast<redisReply*>(
    redisCommand(ctx_, "PUBLISH %b %b", channel.data(), channel.size(),
                 payload.data(), payload.size()))};
  if (!reply)
    return std::nullopt;
  return reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
}

bool redis_publisher::append(std::string_view channel,
                             std::string_view payload) {
  if (ctx_ == nullptr
      || redisAppendCommand(ctx_, "PUBLISH %b %b", channel.data(),
                            channel.size(), payload.data(), payload.size())
           != REDIS_OK)
    return false;
  ++queued_;
  return true;
}

redis_publisher::replies redis_publisher::flush() {
  replies result;
  for (; queued_ > 0; --queued_) {
    void* raw = nullptr;
    if (ctx_ == nullptr || redisGetReply(ctx_, &raw) != REDIS_OK) {
      result.lost = queued_;
      queued_ = 0;
      break;
    }
    reply_ptr reply{static_cast<redisReply*>(raw)};
    if (reply->type == REDIS_REPLY_ERROR) {
      if (result.refused++ == 0)
        result.refusal = reply->str;
    } else {
      ++result.accepted;
    }
  }
  return result;
}

std::optional<long long>
redis_publisher::subscribers(std::string_view channel) {
  if (ctx_ == nullptr)
    return std::nullopt;
  reply_ptr reply{static_cast<redisReply*>(
    redisCommand(ctx_, "PUBSUB NUMSUB %b", channel.data(), channel.size()))};
  if (!reply)
    return std::nullopt;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
      && reply->element[1]->type == REDIS_REPLY_INTEGER)
    return reply->element[1]->integer;
  return -1;
}

} // namespace mm::feed

// End-to-end: mm-server authenticates at a real redis-server that requires
// it (--redis-password-file; --redis-user for an ACL user), on its first
// connection and on every reconnect, and says clearly when Redis refuses
// its credentials (log, stats, health).

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace mm::test {
namespace {

/// A hiredis connection for setting Redis up and publishing, authenticated
/// as Redis' `default` user once a password is set.
class redis_admin {
public:
  explicit redis_admin(uint16_t port) {
    timeval tv{2, 0};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx_ == nullptr || ctx_->err != 0)
      throw std::runtime_error("cannot connect to redis");
  }
  ~redis_admin() {
    redisFree(ctx_);
  }

  /// Runs `args` as one command; returns the reply as text ("(error) ..."
  /// for an error, the integer as text).
  std::string run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& x : args) {
      argv.push_back(x.data());
      lens.push_back(x.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(
      ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr)
      return "(no reply)";
    std::string result;
    if (r->type == REDIS_REPLY_ERROR)
      result = "(error) " + std::string{r->str, r->len};
    else if (r->type == REDIS_REPLY_INTEGER)
      result = std::to_string(r->integer);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2
             && r->element[1]->type == REDIS_REPLY_INTEGER)
      result = std::to_string(r->element[1]->integer); // PUBSUB NUMSUB
    else if (r->str != nullptr)
      result.assign(r->str, r->len);
    freeReplyObject(r);
    return result;
  }

  long long subscribers(const std::string& ticker) {
    return std::stoll(run({"PUBSUB", "NUMSUB", "prices:" + ticker}));
  }

  void publish_tick(const std::string& ticker, double price, int64_t ts) {
    run({"PUBLISH", "prices:" + ticker, tick_json(price, 1, ts)});
  }

private:
  redisContext* ctx_ = nullptr;
};

/// A file holding `line`, removed with the object.
class temp_file {
public:
  explicit temp_file(const std::string& line) {
    char path[] = "/tmp/mm_redis_auth_XXXXXX";
    int fd = ::mkstemp(path);
    if (fd < 0)
      throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path_ = path;
    std::ofstream{path_} << line << "\n";
  }
  ~temp_file() {
    std::remove(path_.c_str());
  }
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

pb::SubscribeRequest subscribe_to(const std::string& ticker) {
  pb::SubscribeRequest req;
  req.add_tickers(ticker);
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  return req;
}

/// Publishes until `s` got a tick of `ticker` priced `price`.
bool tick_arrives(redis_admin& redis, stream_reader& s,
                  const std::string& ticker, double price) {
  return wait_until([&] {
    redis.publish_tick(ticker, price, 1700000000000000000);
    return s.wait_update(
      ticker, [price](const pb::PriceUpdate& u) { return u.price() == price; },
      milliseconds{100});
  });
}

TEST(redis_auth, a_password_is_sent_on_every_connection) {
  redis_process redis;
  redis_admin admin{redis.port()};
  ASSERT_EQ(admin.run({"CONFIG", "SET", "requirepass", "pw-1"}), "OK");
  ASSERT_EQ(admin.run({"AUTH", "pw-1"}), "OK");
  temp_file password{"pw-1"};
  server_process server{redis, {"--redis-password-file", password.path()}};
  auto stub = make_stub(server.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to("RAA"));
  ASSERT_TRUE(wait_until([&] { return admin.subscribers("RAA") == 1; }));
  EXPECT_TRUE(tick_arrives(admin, *s, "RAA", 1.5));
  // Redis drops the subscriber connection: the listener reconnects, sends
  // AUTH again and subscribes again.
  admin.run({"CLIENT", "KILL", "TYPE", "pubsub"});
  EXPECT_TRUE(tick_arrives(admin, *s, "RAA", 2.5));
  EXPECT_FALSE(s->finished());
}

TEST(redis_auth, an_acl_user_with_its_password) {
  redis_process redis;
  redis_admin admin{redis.port()};
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "mm", "on", ">pw-2", "resetchannels",
                       "&prices:*", "+subscribe", "+unsubscribe", "+ping"}),
            "OK");
  // Nobody gets in without credentials any more.
  ASSERT_EQ(admin.run({"CONFIG", "SET", "requirepass", "admin-pw"}), "OK");
  ASSERT_EQ(admin.run({"AUTH", "admin-pw"}), "OK");
  temp_file password{"pw-2"};
  server_process server{
    redis, {"--redis-user", "mm", "--redis-password-file", password.path()}};
  auto stub = make_stub(server.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to("RAB"));
  ASSERT_TRUE(wait_until([&] { return admin.subscribers("RAB") == 1; }));
  EXPECT_TRUE(tick_arrives(admin, *s, "RAB", 3.5));
}

TEST(redis_auth, refused_credentials_are_reported) {
  redis_process redis;
  redis_admin admin{redis.port()};
  ASSERT_EQ(admin.run({"CONFIG", "SET", "requirepass", "right"}), "OK");
  ASSERT_EQ(admin.run({"AUTH", "right"}), "OK");
  temp_file password{"wrong"};
  server_process server{redis,
                        {"--redis-password-file", password.path(),
                         "--health-grace-ms", "100"}};
  auto stub = make_stub(server.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to("RAC"));
  admin_client shell{server.admin_address()};
  node_stats last;
  EXPECT_TRUE(wait_until([&] {
    last = shell.stats();
    return last.json.find("refused our credentials") != std::string::npos;
  }))
    << last.json;
  EXPECT_FALSE(last.redis_connected);
  EXPECT_EQ(admin.subscribers("RAC"), 0);
}

} // namespace
} // namespace mm::test

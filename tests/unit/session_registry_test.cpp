#include "actors/session_registry.hpp"

#include <regex>

#include <caf/make_message.hpp>

#include "actors/errors.hpp"
#include "actors/metrics.hpp"
#include "actors/ticker_directory.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

class registry_test : public actor_fixture {
public:
  registry_test() {
    auto watched = std::make_shared<std::vector<std::string>>();
    directory = spawn_ticker_directory(sys, spawn_recording_listener(watched),
                                       ncfg, m);
    registry = spawn_session_registry(sys, directory, ncfg, m);
    cleanup.push_back(registry);
    cleanup.push_back(directory);
  }

  /// Starts a session and returns its id, or an empty string on error.
  std::string start(std::vector<std::string> tickers,
                    stream_sink_ptr sink = nullptr, caf::error* err = nullptr) {
    session_options opts;
    opts.max_batch = ncfg.max_batch;
    if (sink)
      self->send(registry, start_atom::value, std::move(tickers), opts, sink);
    else
      self->send(registry, start_atom::value, std::move(tickers), opts);
    run();
    std::string result;
    self->receive([&](const std::string& id,
                      const std::vector<std::string>&) { result = id; },
                  [&](const caf::error& e) {
                    if (err)
                      *err = e;
                  },
                  caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE(); });
    return result;
  }

  caf::expected<session_actor> find(const std::string& id) {
    self->send(registry, find_atom::value, id);
    run();
    caf::expected<session_actor> result{session_actor{}};
    self->receive([&](const session_actor& s) { result = s; },
                  [&](const caf::error& e) { result = e; },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
    return result;
  }

  std::map<std::string, uint64_t> ended() {
    std::map<std::string, uint64_t> result;
    self->send(registry, stats_atom::value);
    run();
    self->receive(
      [&](const std::vector<std::string>& names,
          const std::vector<uint64_t>& counts) {
        for (size_t i = 0; i < names.size(); ++i)
          result[names[i]] = counts[i];
      },
      caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
    return result;
  }

  hub_directory_actor directory;
  session_registry_actor registry;
};

TEST_F(registry_test, start_creates_a_session_under_a_random_uuid) {
  auto a = start({"AAPL"});
  auto b = start({"AAPL"});
  std::regex uuid4{
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"};
  EXPECT_TRUE(std::regex_match(a, uuid4)) << a;
  EXPECT_TRUE(std::regex_match(b, uuid4)) << b;
  EXPECT_NE(a, b);
  auto s = find(a);
  ASSERT_TRUE(s);
  EXPECT_TRUE(*s);
  EXPECT_EQ(m.sessions.load(), 2);
  EXPECT_EQ(m.sessions_created_total.load(), 2u);
}

TEST_F(registry_test, unknown_id_is_not_found) {
  auto s = find("no-such-session");
  ASSERT_FALSE(s);
  EXPECT_EQ(code_of(s.error()), ec::unknown_session);
  EXPECT_NE(text_of(s.error()).find("no-such-session"), std::string::npos);
}

TEST_F(registry_test, enforces_the_node_session_limit) {
  for (uint32_t i = 0; i < ncfg.max_sessions; ++i)
    EXPECT_FALSE(start({"AAPL"}).empty());
  caf::error err;
  EXPECT_TRUE(start({"AAPL"}, nullptr, &err).empty());
  EXPECT_EQ(code_of(err), ec::session_limit);
  EXPECT_NE(text_of(err).find("limit of 3"), std::string::npos);
}

TEST_F(registry_test, drops_ended_sessions_and_counts_them_by_reason) {
  auto stopped = start({"AAPL"});
  auto expired = start({"MSFT"});
  auto streamed = start({"GOOG"}, std::make_shared<fake_sink>());
  request_ok(*find(stopped), stop_atom::value);
  advance(ncfg.attach_timeout_ms);
  EXPECT_EQ(code_of(find(stopped).error()), ec::unknown_session);
  EXPECT_EQ(code_of(find(expired).error()), ec::unknown_session);
  EXPECT_TRUE(find(streamed));
  auto counts = ended();
  EXPECT_EQ(counts["stopped"], 1u);
  EXPECT_EQ(counts["attach_timeout"], 1u);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(m.sessions.load(), 1);
  // Room again below the limit.
  EXPECT_FALSE(start({"AAPL"}).empty());
}

TEST_F(registry_test, counts_each_end_under_its_metrics_label) {
  // The ends the stream bridge reports as exit messages (docs/operations.md,
  // "What each end reason counts").
  const std::pair<ec, end_reason> cases[] = {
    {ec::stream_ended, end_reason::cancel},
    {ec::deadline_exceeded, end_reason::deadline},
    {ec::client_not_reading, end_reason::peer_dead},
    {ec::slow_consumer, end_reason::evicted},
    {ec::token_expired, end_reason::token_expired},
  };
  for (const auto& [code, label] : cases) {
    SCOPED_TRACE(to_string(code));
    auto s = find(start({"AAPL"}, std::make_shared<fake_sink>()));
    ASSERT_TRUE(s);
    self->send_exit(*s, caf::make_error(code, "ended by the test"));
    run();
    EXPECT_EQ(m.sessions_ended[static_cast<size_t>(label)].load(), 1u);
  }
  auto counts = ended();
  for (const auto& [code, label] : cases)
    EXPECT_EQ(counts[to_string(code)], 1u) << to_string(code);
  EXPECT_EQ(m.sessions.load(), 0);
}

TEST_F(registry_test, shutdown_ends_every_session_and_refuses_new_ones) {
  auto sink1 = std::make_shared<fake_sink>();
  auto sink2 = std::make_shared<fake_sink>();
  start({"AAPL"}, sink1);
  start({"MSFT"}, sink2);
  self->send(registry, shutdown_atom::value);
  run();
  EXPECT_EQ(code_of(sink1->finished), ec::shutting_down);
  EXPECT_EQ(code_of(sink2->finished), ec::shutting_down);
  EXPECT_EQ(ended()["shutdown"], 2u);
  caf::error err;
  EXPECT_TRUE(start({"AAPL"}, nullptr, &err).empty());
  EXPECT_EQ(code_of(err), ec::shutting_down);
}

TEST_F(registry_test, idle_again_after_all_sessions_end) {
  auto baseline = running();
  for (int i = 0; i < 3; ++i)
    start({"AAPL", "MSFT"});
  EXPECT_GT(running(), baseline);
  // Unattached sessions expire, then their broadcasters linger out.
  advance(ncfg.attach_timeout_ms);
  advance(ncfg.linger_ms);
  EXPECT_EQ(m.sessions.load(), 0);
  EXPECT_EQ(m.broadcasters.load(), 0);
  EXPECT_EQ(running(), baseline);
}

} // namespace

namespace {

class owned_registry_test : public registry_test {
public:
  std::string start_owned(const std::string& owner) {
    session_options opts;
    opts.max_batch = ncfg.max_batch;
    self->send(registry, start_atom::value, std::vector<std::string>{"AAPL"},
               opts, owner, "id:" + owner);
    run();
    std::string result;
    self->receive([&](const std::string& id,
                      const std::vector<std::string>&) { result = id; },
                  caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE(); });
    return result;
  }

  caf::expected<session_actor> find_as(const std::string& id,
                                       const std::string& owner) {
    self->send(registry, find_atom::value, id, owner);
    run();
    caf::expected<session_actor> result{session_actor{}};
    self->receive([&](const session_actor& s) { result = s; },
                  [&](const caf::error& e) { result = e; },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
    return result;
  }
};

TEST_F(owned_registry_test, the_end_line_names_the_peer_and_the_identity) {
  // A stream's session: the stream's peer. A session started by a client
  // with an identity and no stream: the identity.
  auto streamed = find(start({"AAPL"}, std::make_shared<fake_sink>()));
  ASSERT_TRUE(streamed);
  auto owned = find_as(start_owned("alice"), "alice");
  ASSERT_TRUE(owned);
  ::testing::internal::CaptureStderr();
  self->send_exit(*streamed, caf::make_error(ec::stopped));
  run();
  self->send_exit(*owned, caf::make_error(ec::killed));
  run();
  auto lines = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(lines.find("session: ended session="), std::string::npos) << lines;
  EXPECT_NE(lines.find(" peer=ipv4:127.0.0.1:1 tickers=1 reason=stopped "),
            std::string::npos)
    << lines;
  EXPECT_NE(lines.find(" identity=alice tickers=1 reason=killed "),
            std::string::npos)
    << lines;
}

} // namespace

TEST_F(owned_registry_test, only_the_owner_finds_its_session) {
  auto id = start_owned("alice");
  ASSERT_FALSE(id.empty());
  auto mine = find_as(id, "alice");
  ASSERT_TRUE(mine) << to_string(mine.error());
  EXPECT_TRUE(*mine);
  // Someone else, or nobody: exactly the answer for an unknown id.
  auto theirs = find_as(id, "bob");
  ASSERT_FALSE(theirs);
  EXPECT_EQ(code_of(theirs.error()), ec::unknown_session);
  auto unknown = find_as("00000000-0000-4000-8000-000000000000", "bob");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(text_of(theirs.error()).substr(0, 15),
            text_of(unknown.error()).substr(0, 15));
  auto nobody = find_as(id, "");
  ASSERT_FALSE(nobody);
  EXPECT_EQ(code_of(nobody.error()), ec::unknown_session);
  // A session without an owner is found by anyone holding its id.
  auto open = start({"MSFT"});
  ASSERT_FALSE(open.empty());
  EXPECT_TRUE(find_as(open, ""));
  self->send_exit(*mine, caf::exit_reason::user_shutdown);
  run();
  EXPECT_FALSE(find_as(id, "alice"));
}

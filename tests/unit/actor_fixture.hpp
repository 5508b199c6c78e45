#pragma once

// A deterministic fixture: CAF's test_coordinator runs every actor in the
// test's thread, and time only moves when the test advances it.

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node.hpp"
#include "actors/node_config.hpp"
#include "actors/stream_sink.hpp"

namespace mm::test {

/// Records what a session does to its stream; the test acknowledges writes.
class fake_sink : public stream_sink {
public:
  bool bind(const stream_owner_actor& session) override {
    if (gone)
      return false;
    bound = session;
    return true;
  }
  void write(price_batch batch) override {
    writes.push_back(std::move(batch));
  }
  void finish(const caf::error& reason) override {
    ++finish_calls;
    finished = reason;
  }
  std::string peer() const override {
    return "ipv4:127.0.0.1:1";
  }

  bool gone = false;
  stream_owner_actor bound;
  std::vector<price_batch> writes;
  int finish_calls = 0;
  caf::error finished;
};

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
    mm::add_message_types(*this);
  }
};

class actor_fixture : public ::testing::Test {
public:
  actor_fixture()
    : sys(cfg),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
      self(sys) {
    ncfg.linger_ms = 1000;
    ncfg.attach_timeout_ms = 30000;
    ncfg.max_pending = 10;
    ncfg.max_tickers_per_session = 5;
    ncfg.max_sessions = 3;
    ncfg.max_batch = 500;
  }

  ~actor_fixture() override {
    // From a named actor: guarded actors take no anonymous exit.
    for (auto& x : cleanup.actors)
      self->send_exit(x, caf::exit_reason::user_shutdown);
    run();
    // Actors waiting for a timer the test never fired must not block the
    // system's destructor.
    sys.await_actors_before_shutdown(false);
  }

  /// Runs every actor until nobody has anything left to do.
  void run() {
    sched.run();
  }

  /// Moves the clock by `ms` and runs what became due.
  void advance(uint32_t ms) {
    sched.advance_time(std::chrono::milliseconds(ms));
    run();
  }

  /// Takes the reply of type `T` waiting in the scoped actor's mailbox;
  /// fails the test if there is none or it is an error.
  template <class T>
  T fetch() {
    T result{};
    bool got = false;
    self->receive(
      [&](const T& x) {
        result = x;
        got = true;
      },
      [&](const caf::error& err) {
        ADD_FAILURE() << "got error: " << sys.render(err);
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(got) << "no reply waiting";
    return result;
  }

  /// Takes the reply of type `T` or the error waiting in the scoped actor's
  /// mailbox; fails the test if there is neither.
  template <class T>
  caf::expected<T> fetch_expected() {
    caf::expected<T> result{caf::error{}};
    bool got = false;
    self->receive(
      [&](const T& x) {
        result = x;
        got = true;
      },
      [&](const caf::error& e) {
        result = e;
        got = true;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(got) << "no reply waiting";
    return result;
  }

  /// Takes every message of type `T` waiting in `who`'s mailbox, oldest
  /// first.
  template <class T>
  static std::vector<T> drain(caf::scoped_actor& who) {
    std::vector<T> result;
    for (bool more = true; more;) {
      more = false;
      who->receive(
        [&](const T& x) {
          result.push_back(x);
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return result;
  }

  /// `who` as a subscriber: a scoped actor takes any message (price_update
  /// too), and the test reads what it got from its mailbox.
  static subscriber as_subscriber(const caf::scoped_actor& who) {
    return caf::actor_cast<subscriber>(who);
  }

  /// A subscriber that takes updates and drops them (a shell's watcher, a
  /// session the test only counts); ended with the fixture.
  subscriber spawn_idle_subscriber() {
    auto x = sys.spawn(
      [](update_sink_actor::pointer) -> update_sink_actor::behavior_type {
        return {[](const price_update&) {}};
      });
    cleanup.push_back(x);
    return x;
  }

  /// Takes the down_msg of `who` (which the scoped actor monitors) if one
  /// waits in its mailbox: whether `who` has ended.
  template <class Handle>
  bool took_down(const Handle& who) {
    bool down = false;
    self->receive(
      [&](const caf::down_msg& dm) { down = dm.source == who.address(); },
      caf::after(std::chrono::seconds(0)) >> [] {});
    return down;
  }

  /// Sends a request whose reply is empty (a handler returning caf::unit),
  /// runs the actors and checks that the reply arrived.
  template <class Handle, class... Ts>
  void request_ok(const Handle& dest, Ts&&... xs) {
    auto rh = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    bool got = false;
    rh.receive([&]() { got = true; },
               [&](const caf::error& err) {
                 ADD_FAILURE() << "got error: " << sys.render(err);
               });
    EXPECT_TRUE(got);
  }

  /// Takes the error waiting in the scoped actor's mailbox.
  caf::error fetch_error() {
    caf::error result;
    self->receive([&](const caf::error& err) { result = err; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(result) << "no error waiting";
    return result;
  }

  /// True if a message of any kind waits in the scoped actor's mailbox.
  bool has_message() {
    return !self->mailbox().empty();
  }

  /// A stand-in for the redis listener that records what it is told.
  redis_listener_actor
  spawn_recording_listener(std::shared_ptr<std::vector<std::string>> watched) {
    auto l = sys.spawn([watched](redis_listener_actor::pointer)
                         -> redis_listener_actor::behavior_type {
      return {
        [watched](watch_atom, const std::string& t,
                  const ticker_broadcaster_actor&) { watched->push_back(t); },
      };
    });
    cleanup.push_back(l);
    return l;
  }

  /// Counts the actors the test coordinator still knows to be alive.
  size_t running() {
    return sys.registry().running();
  }

  test_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  node_config ncfg;
  metrics m;
  /// The actors the fixture ends after the test, of any interface.
  struct actor_list {
    template <class Handle>
    void push_back(const Handle& x) {
      actors.push_back(caf::actor_cast<caf::actor>(x));
    }
    std::vector<caf::actor> actors;
  } cleanup;
};

} // namespace mm::test

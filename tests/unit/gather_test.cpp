// The one reply gatherer (actors/gather.hpp): an actor asks N others and
// answers once, on the test coordinator. Targets that reply, fail, never
// reply (timeout) or are gone; zero targets; sorting; ask_each.

#include "actors/gather.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "actors/errors.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

/// What the fan-out actor does with a failed request.
enum class on_error { skip, fail };

bool by_text(const std::string& x, const std::string& y) {
  return x < y;
}

/// Answers `(describe_atom)` with a gather over `targets`: each is asked
/// `(describe_atom)` with a 1 s timeout. `(last_atom)` goes through
/// ask_each, sorted, each target answering a vector.
caf::behavior fan_out(caf::event_based_actor* self,
                      std::vector<caf::actor> targets, on_error policy,
                      bool sorted) {
  return {
    [=](describe_atom) -> caf::result<std::vector<std::string>> {
      auto acc = gather<std::string>::start(self, targets.size(),
                                            sorted ? by_text : nullptr);
      for (auto& t : targets)
        self->request(t, std::chrono::seconds{1}, describe_atom::value)
          .then([acc](const std::string& x) { acc->add(x); },
                [acc, policy](caf::error& err) {
                  if (policy == on_error::fail)
                    acc->fail(std::move(err));
                  else
                    acc->skip();
                });
      return acc->delegated();
    },
    [=](last_atom) -> caf::result<std::vector<std::string>> {
      auto acc = gather<std::string>::start(self, targets.size(), by_text);
      ask_each<std::vector<std::string>>(self, acc, targets,
                                         std::chrono::seconds{1},
                                         last_atom::value);
      return acc->delegated();
    },
  };
}

class gather_test : public actor_fixture {
public:
  /// A target that answers `text` (and `{text, text + "+"}` to last_atom).
  caf::actor answering(std::string text) {
    return keep(sys.spawn([text](caf::event_based_actor*) -> caf::behavior {
      return {
        [text](describe_atom) { return text; },
        [text](last_atom) {
          return std::vector<std::string>{text, text + "+"};
        },
      };
    }));
  }

  /// A target that answers with an error.
  caf::actor failing(std::string why) {
    return keep(sys.spawn([why](caf::event_based_actor*) -> caf::behavior {
      return {
        [why](describe_atom) -> caf::result<std::string> {
          return caf::make_error(ec::bad_option, why);
        },
        [why](last_atom) -> caf::result<std::vector<std::string>> {
          return caf::make_error(ec::bad_option, why);
        },
      };
    }));
  }

  /// A target that takes requests and never answers.
  caf::actor silent() {
    return keep(sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {
        [](describe_atom) -> caf::result<std::string> {
          return caf::delegated<std::string>{};
        },
      };
    }));
  }

  /// A target that has exited.
  caf::actor gone() {
    auto x = answering("gone");
    self->send_exit(x, caf::exit_reason::user_shutdown);
    run();
    return x;
  }

  caf::actor fan(std::vector<caf::actor> targets,
                 on_error policy = on_error::skip, bool sorted = false) {
    return keep(sys.spawn(fan_out, std::move(targets), policy, sorted));
  }

  caf::actor keep(caf::actor x) {
    cleanup.push_back(x);
    return x;
  }

  /// Asks `fan` `(describe_atom)` and runs the actors.
  void ask(const caf::actor& f) {
    self->send(f, describe_atom::value);
    run();
  }

  using texts = std::vector<std::string>;
};

TEST_F(gather_test, every_target_replies) {
  auto f = fan({answering("b"), answering("c"), answering("a")});
  ask(f);
  auto got = fetch<texts>();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (texts{"a", "b", "c"}));
  EXPECT_FALSE(has_message()) << "answered more than once";
}

TEST_F(gather_test, less_sorts_the_answer) {
  auto f = fan({answering("b"), answering("c"), answering("a")}, on_error::skip,
               true);
  ask(f);
  EXPECT_EQ(fetch<texts>(), (texts{"a", "b", "c"}));
}

TEST_F(gather_test, zero_targets_answer_the_empty_vector_at_once) {
  auto f = fan({});
  ask(f);
  EXPECT_EQ(fetch<texts>(), texts{});
  EXPECT_FALSE(has_message());
}

TEST_F(gather_test, an_error_is_skipped) {
  auto f = fan({answering("a"), failing("no"), answering("b")}, on_error::skip,
               true);
  ask(f);
  EXPECT_EQ(fetch<texts>(), (texts{"a", "b"}));
}

TEST_F(gather_test, an_error_fails_the_answer_after_all_replies) {
  auto f = fan({answering("a"), failing("no"), answering("b")}, on_error::fail);
  ask(f);
  auto err = fetch_error();
  EXPECT_EQ(code_of(err), ec::bad_option) << sys.render(err);
  EXPECT_EQ(text_of(err), "no");
  EXPECT_FALSE(has_message()) << "answered more than once";
}

TEST_F(gather_test, the_last_error_wins) {
  auto f = fan({failing("first"), failing("second")}, on_error::fail);
  ask(f);
  auto err = fetch_error();
  EXPECT_EQ(text_of(err), "second") << sys.render(err);
}

TEST_F(gather_test, a_silent_target_holds_the_answer_until_its_timeout) {
  auto f = fan({answering("a"), silent()}, on_error::skip, true);
  ask(f);
  EXPECT_FALSE(has_message()) << "answered before the timeout";
  advance(999);
  EXPECT_FALSE(has_message()) << "answered before the timeout";
  advance(1);
  EXPECT_EQ(fetch<texts>(), texts{"a"});
}

TEST_F(gather_test, a_timeout_fails_the_answer_when_errors_fail) {
  auto f = fan({answering("a"), silent()}, on_error::fail);
  ask(f);
  advance(1000);
  EXPECT_EQ(fetch_error(), caf::sec::request_timeout);
}

TEST_F(gather_test, a_target_that_is_gone_counts_as_an_error) {
  auto f = fan({gone(), answering("a")}, on_error::skip);
  ask(f);
  EXPECT_EQ(fetch<texts>(), texts{"a"});
  auto g = fan({answering("a"), gone()}, on_error::fail);
  ask(g);
  EXPECT_EQ(fetch_error(), caf::sec::request_receiver_down);
}

TEST_F(gather_test, ask_each_adds_vectors_and_skips_errors) {
  auto f = fan({answering("b"), failing("no"), answering("a")});
  self->send(f, last_atom::value);
  run();
  EXPECT_EQ(fetch<texts>(), (texts{"a", "a+", "b", "b+"}));
}

} // namespace

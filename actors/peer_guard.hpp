#pragma once

// The closed actor surface (docs/security.md): every actor another node can
// address over CAF's BASP (the cluster and admin ports) screens each message
// before CAF sees it. BASP lets any connected peer send any message to any
// actor whose handle ever crossed the network, including system messages
// (exit_msg kills an actor), so checks in the handlers alone do not do.

#include <cstddef>
#include <string>
#include <typeinfo>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/invoke_message_result.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/type_erased_tuple.hpp>
#include <caf/type_nr.hpp>

namespace mm {

/// The message an actor is about to handle, as its screen sees it.
struct inbound {
  /// Null for an anonymous message (a local anon_send, a down_msg, or a
  /// remote peer that gave no sender: CAF 0.17 cannot tell these apart).
  const caf::strong_actor_ptr& sender;
  const caf::type_erased_tuple& content;
  /// Sent from another node.
  bool remote;

  /// Whether the message holds `Ts...`. The type token tells builtin types
  /// apart only (ours, e.g. a typed handle, are all 0 in it), and a screen
  /// reads the elements it matched: ours are compared by type as well.
  template <class... Ts>
  bool is() const {
    return content.type_token() == caf::make_type_token<Ts...>()
           && ours_match<Ts...>(std::index_sequence_for<Ts...>{});
  }

  /// The node of the sender (invalid for an anonymous message).
  caf::node_id node() const;

private:
  template <class... Ts, size_t... Is>
  bool ours_match(std::index_sequence<Is...>) const {
    return (
      (caf::type_nr<Ts>::value != 0 || content.matches(Is, 0, &typeid(Ts)))
      && ...);
  }
};

/// What a screen says about a message.
enum class verdict {
  /// Handle it.
  accept,
  /// Drop it quietly (e.g. a late tick from a hub broadcaster we left).
  drop,
  /// Drop it, log it (rate-limited) and, if it came from another node,
  /// close the connection to that node.
  refuse,
};

/// Logs `what` (at most a few lines per second for the whole process; the
/// next line says how many were left out) and closes the BASP connection to
/// `peer` unless it is this node or invalid. Never blocks: the connection is
/// closed on the middleman's thread.
void refuse_peer(caf::actor_system& sys, const caf::node_id& peer,
                 const std::string& actor, const std::string& what);

/// How often peers were refused since start (for tests and stats).
uint64_t peers_refused_total();

/// Screens `x` for `self` (named `actor` in logs) with `rule`; returns
/// whether CAF may handle it. Common to every guarded actor: responses pass
/// (CAF matches them to its own requests), an exit_msg is taken from a
/// local named sender only, a down_msg only anonymously (as CAF delivers
/// them), any other anonymous message is refused; everything else is up to
/// `rule`.
template <class Rule>
bool screen(caf::local_actor* self, const char* actor, caf::mailbox_element& x,
            Rule&& rule);

/// A stateful actor whose messages pass `State::screen(self, inbound)`
/// (returning a verdict) before CAF handles them. Spawn it as usual, with a
/// function taking `guarded_actor<State, Base>*`; `Base` is a typed
/// interface's `base` (actors/interfaces.hpp) or CAF's dynamically typed
/// event_based_actor.
template <class State, class Base = caf::event_based_actor>
class guarded_actor : public caf::stateful_actor<State, Base> {
public:
  using super = caf::stateful_actor<State, Base>;

  template <class... Ts>
  explicit guarded_actor(caf::actor_config& cfg, Ts&&... xs)
    : super(cfg, std::forward<Ts>(xs)...) {
    // nop
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    auto ok = screen(this, State::name, x, [this](const inbound& in) {
      return State::screen(this, in);
    });
    if (!ok)
      return caf::invoke_message_result::dropped;
    return super::consume(x);
  }
};

// --- implementation ----------------------------------------------------------

namespace detail {

enum class common_verdict { accept, refuse, ask_rule };

/// The checks every guarded actor shares; `why` says what was wrong.
common_verdict common_screen(caf::local_actor* self,
                             const caf::mailbox_element& x, std::string& why);

/// Logs and (for a remote sender) disconnects; `rule_said` is the
/// rule's refusal, `why` the common one.
void refuse(caf::local_actor* self, const char* actor,
            const caf::mailbox_element& x, const std::string& why);

} // namespace detail

template <class Rule>
bool screen(caf::local_actor* self, const char* actor, caf::mailbox_element& x,
            Rule&& rule) {
  std::string why;
  switch (detail::common_screen(self, x, why)) {
    case detail::common_verdict::accept: return true;
    case detail::common_verdict::refuse:
      detail::refuse(self, actor, x, why);
      return false;
    default: break;
  }
  inbound in{x.sender, x.content(),
             x.sender != nullptr && x.sender->node() != self->node()};
  switch (rule(in)) {
    case verdict::accept: return true;
    case verdict::drop: return false;
    default: detail::refuse(self, actor, x, {}); return false;
  }
}

} // namespace mm

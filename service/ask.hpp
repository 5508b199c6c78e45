#pragma once

#include <tuple>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>

namespace mm {

/// A request to an actor made on behalf of a gRPC reaction, which must not
/// block: `then` spawns a short-lived actor that sends the request, hands the
/// reply to `on_ok` or the failure (including a timeout) to `on_err`, and quits
/// as soon as either ran. Build it with `ask`. `Handle` is the typed interface
/// of `dest` (actors/interfaces.hpp): the compiler checks the request and the
/// reply handler against it.
template <class Handle, class... Ts>
class pending_ask {
public:
  pending_ask(caf::actor_system& sys, Handle dest, caf::timespan timeout,
              Ts... xs)
    : sys_(sys),
      dest_(std::move(dest)),
      timeout_(timeout),
      args_(std::move(xs)...) {
    // nop
  }

  /// `on_ok` takes the reply's elements, `on_err` a `caf::error&`.
  template <class OnOk, class OnErr>
  void then(OnOk on_ok, OnErr on_err) && {
    sys_.spawn([dest = std::move(dest_), timeout = timeout_,
                args = std::move(args_), on_ok = std::move(on_ok),
                on_err = std::move(on_err)](caf::event_based_actor* self) {
      std::apply(
        [&](const auto&... xs) {
          self->request(dest, timeout, xs...).then(on_ok, on_err);
        },
        args);
      // No behavior: the actor lives only while the reply is pending.
    });
  }

private:
  caf::actor_system& sys_;
  Handle dest_;
  caf::timespan timeout_;
  std::tuple<Ts...> args_;
};

/// Prepares the request `(xs...)` to `dest`; see `pending_ask::then`.
template <class Handle, class... Ts>
pending_ask<Handle, std::decay_t<Ts>...>
ask(caf::actor_system& sys, Handle dest, caf::timespan timeout, Ts&&... xs) {
  return {sys, std::move(dest), timeout, std::forward<Ts>(xs)...};
}

} // namespace mm

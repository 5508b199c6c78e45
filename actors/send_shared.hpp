#pragma once

#include <caf/actor.hpp>
#include <caf/local_actor.hpp>
#include <caf/message.hpp>

namespace mm {

/// Enqueues the shared `msg` (a price_update or a wake-up) at the subscriber
/// `dest` as sent by `self`: one message for every subscriber of a tick,
/// where a typed send would make a new one for each. The subscriber's
/// interface (update_sink_actor, actors/interfaces.hpp) takes it.
inline void send_shared(caf::local_actor* self, const caf::actor& dest,
                        const caf::message& msg) {
  dest->eq_impl(caf::make_message_id(), self->ctrl(), self->context(), msg);
}

} // namespace mm

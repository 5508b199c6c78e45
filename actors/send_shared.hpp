#pragma once

#include <cassert>

#include <caf/check_typed_input.hpp>
#include <caf/local_actor.hpp>
#include <caf/message.hpp>
#include <caf/replies_to.hpp>
#include <caf/response_type.hpp>
#include <caf/typed_actor.hpp>

namespace mm {

/// Enqueues the shared `msg`, which holds one `T` (a price_update or a
/// wake-up), at the subscriber `dest` as sent by `self`: one message for
/// every subscriber of a tick, where a typed send would make a new one for
/// each. Checked like a typed send: `dest`'s interface takes a `T`.
template <class T, class... Sigs>
void send_shared(caf::local_actor* self, const caf::typed_actor<Sigs...>& dest,
                 const caf::message& msg) {
  using rt = caf::response_type_unbox<caf::detail::type_list<Sigs...>,
                                      caf::detail::type_list<T>>;
  static_assert(rt::valid, "the receiver does not take this message");
  static_assert(caf::is_void_response<typename rt::type>::value,
                "the receiver replies, but a shared message takes no reply");
  assert(msg.match_elements<T>());
  dest->eq_impl(caf::make_message_id(), self->ctrl(), self->context(), msg);
}

} // namespace mm

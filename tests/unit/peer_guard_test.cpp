// actors/peer_guard.hpp: what a screen sees of a message. The type token
// names CAF's builtin types only (all of ours are 0 in it), so `inbound::is`
// compares ours by type as well: a screen reads the elements it matched.

#include "actors/peer_guard.hpp"

#include <gtest/gtest.h>

#include <caf/make_message.hpp>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"

using namespace mm;

namespace {

TEST(inbound, tells_our_types_apart_where_the_type_token_does_not) {
  caf::strong_actor_ptr nobody;
  auto handle = caf::make_message(subscribe_atom::value, subscriber{});
  auto position = caf::make_message(subscribe_atom::value, stream_position{});
  ASSERT_EQ(handle.type_token(), position.type_token())
    << "the token tells them apart: the test shows nothing";
  inbound in_handle{nobody, handle.content(), true};
  inbound in_position{nobody, position.content(), true};
  EXPECT_TRUE((in_handle.is<subscribe_atom, subscriber>()));
  EXPECT_FALSE((in_handle.is<subscribe_atom, stream_position>()));
  EXPECT_TRUE((in_position.is<subscribe_atom, stream_position>()));
  EXPECT_FALSE((in_position.is<subscribe_atom, subscriber>()));
  EXPECT_FALSE((in_position.is<subscribe_atom, publisher>()));
}

TEST(inbound, compares_builtin_types_by_the_token) {
  caf::strong_actor_ptr nobody;
  auto msg = caf::make_message(hello_atom::value, uint32_t{3}, edge{});
  inbound in{nobody, msg.content(), true};
  EXPECT_TRUE((in.is<hello_atom, uint32_t, edge>()));
  EXPECT_FALSE((in.is<hello_atom, uint64_t, edge>()));
  EXPECT_FALSE((in.is<hello_atom, uint32_t, subscriber>()));
}

} // namespace

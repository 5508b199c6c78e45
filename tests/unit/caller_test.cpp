// service/caller: the key limits and session ownership use.

#include "service/caller.hpp"

#include <gtest/gtest.h>

using namespace mm;

TEST(caller, peer_host_strips_scheme_and_port) {
  EXPECT_EQ(peer_host_of("ipv4:127.0.0.1:5000"), "127.0.0.1");
  EXPECT_EQ(peer_host_of("ipv6:[::1]:5000"), "::1");
  EXPECT_EQ(peer_host_of("ipv6:[2001:db8::7]:443"), "2001:db8::7");
  EXPECT_EQ(peer_host_of("unix:/tmp/mm.sock"), "unix:/tmp/mm.sock");
}

TEST(caller, key_prefers_identity_over_peer) {
  EXPECT_EQ((caller{"", "10.0.0.1"}).key(), "peer:10.0.0.1");
  EXPECT_EQ((caller{"alice", "10.0.0.1"}).key(), "id:alice");
  // An identity that looks like an address does not collide with one.
  EXPECT_NE((caller{"10.0.0.1", "x"}).key(), (caller{"", "10.0.0.1"}).key());
}

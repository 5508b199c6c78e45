#include "service/grpc_service.hpp"

#include <memory>

#include <gtest/gtest.h>

using namespace mm;

namespace {

TEST(start_slot, lets_the_next_call_in_once_when_released) {
  int next = 0;
  auto slot = std::make_shared<start_slot>([&] { ++next; });
  auto copy = slot; // as the reply and the error handler each hold one
  EXPECT_EQ(next, 0) << "a slot in flight lets nothing in";
  slot->release();
  EXPECT_EQ(next, 1);
  copy->release(); // the other handler: nothing more
  slot.reset();
  copy.reset(); // nor when the last copy goes
  EXPECT_EQ(next, 1);
}

TEST(start_slot, lets_the_next_call_in_when_the_last_copy_goes_unreleased) {
  // An early refusal (bad request, no token) returns without any handler.
  int next = 0;
  auto slot = std::make_shared<start_slot>([&] { ++next; });
  auto copy = slot;
  slot.reset();
  EXPECT_EQ(next, 0) << "a copy still waits for the reply";
  copy.reset();
  EXPECT_EQ(next, 1);
}

} // namespace

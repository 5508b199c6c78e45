// actors/errors.hpp comes first and alone: it must compile by itself,
// make_error with a text included (it once needed <caf/make_message.hpp>
// from its includer).
#include "actors/errors.hpp"

#include <gtest/gtest.h>

namespace {

using mm::ec;

TEST(errors, make_error_with_a_text_needs_only_errors_hpp) {
  auto err = caf::make_error(ec::bad_option, "max_batch 9 exceeds 8");
  EXPECT_EQ(mm::code_of(err), ec::bad_option);
  EXPECT_EQ(mm::text_of(err), "max_batch 9 exceeds 8");
}

TEST(errors, code_of_and_text_of_an_error_without_text) {
  auto err = caf::make_error(ec::ticker_limit);
  EXPECT_EQ(mm::code_of(err), ec::ticker_limit);
  EXPECT_EQ(mm::text_of(err), "");
  EXPECT_EQ(mm::code_of(caf::error{}), ec::none);
}

} // namespace

// service/status: the exit-reason-to-status mapping clients see
// (docs/api.md, "Status codes"). Pure function, no gRPC server.

#include "service/status.hpp"

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include <gtest/gtest.h>

#include "actors/errors.hpp"

using namespace mm;
using grpc::StatusCode;

namespace {

struct row {
  ec code;
  StatusCode status;
};

// Every domain error and the code API.md gives it.
const row rows[] = {
  {ec::no_tickers, StatusCode::INVALID_ARGUMENT},
  {ec::bad_ticker, StatusCode::INVALID_ARGUMENT},
  {ec::too_many_tickers, StatusCode::INVALID_ARGUMENT},
  {ec::bad_option, StatusCode::INVALID_ARGUMENT},
  {ec::unknown_session, StatusCode::NOT_FOUND},
  {ec::stream_already_attached, StatusCode::FAILED_PRECONDITION},
  {ec::session_limit, StatusCode::RESOURCE_EXHAUSTED},
  {ec::slow_consumer, StatusCode::RESOURCE_EXHAUSTED},
  {ec::shutting_down, StatusCode::UNAVAILABLE},
  {ec::stopped, StatusCode::OK},
  {ec::stream_ended, StatusCode::CANCELLED},
  {ec::attach_timeout, StatusCode::NOT_FOUND},
  {ec::killed, StatusCode::ABORTED},
  {ec::client_not_reading, StatusCode::RESOURCE_EXHAUSTED},
  {ec::ticker_limit, StatusCode::RESOURCE_EXHAUSTED},
  {ec::deadline_exceeded, StatusCode::DEADLINE_EXCEEDED},
  {ec::token_expired, StatusCode::UNAUTHENTICATED},
};

} // namespace

TEST(status, no_error_is_ok) {
  EXPECT_TRUE(to_status(caf::error{}).ok());
}

TEST(status, each_domain_error_has_its_code_and_a_fallback_message) {
  for (const auto& r : rows) {
    SCOPED_TRACE(to_string(r.code));
    auto st = to_status(caf::make_error(r.code));
    EXPECT_EQ(st.error_code(), r.status);
    if (r.status != StatusCode::OK) {
      EXPECT_FALSE(st.error_message().empty());
    }
  }
}

TEST(status, the_actors_text_wins_over_the_fallback) {
  auto st =
    to_status(caf::make_error(ec::bad_ticker, "malformed ticker \"a b\""));
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "malformed ticker \"a b\"");
  st = to_status(caf::make_error(ec::killed, "planned maintenance"));
  EXPECT_EQ(st.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(st.error_message(), "planned maintenance");
}

TEST(status, framework_errors_map_to_what_the_client_can_act_on) {
  EXPECT_EQ(to_status(caf::sec::request_receiver_down).error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(to_status(caf::sec::request_timeout).error_code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_status(caf::exit_reason::user_shutdown).error_code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_status(caf::exit_reason::kill).error_code(),
            StatusCode::ABORTED);
  auto other = to_status(caf::sec::unexpected_message);
  EXPECT_EQ(other.error_code(), StatusCode::INTERNAL);
  EXPECT_NE(other.error_message().find("internal error"), std::string::npos);
}

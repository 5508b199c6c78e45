// service/status: the exit-reason-to-status mapping clients see
// (docs/api.md, "Status codes"). Pure function, no gRPC server.

#include "service/status.hpp"

#include <algorithm>
#include <iterator>
#include <string>

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
  /// The message when the actor attached no text.
  const char* fallback;
};

// Every domain error and the code API.md gives it.
const row rows[] = {
  {ec::no_tickers, StatusCode::INVALID_ARGUMENT,
   "no tickers: give at least one ticker"},
  {ec::bad_ticker, StatusCode::INVALID_ARGUMENT, "malformed ticker"},
  {ec::too_many_tickers, StatusCode::INVALID_ARGUMENT,
   "too many tickers for one session"},
  {ec::bad_option, StatusCode::INVALID_ARGUMENT, "invalid session option"},
  {ec::unknown_session, StatusCode::NOT_FOUND,
   "unknown session id (it may have expired or ended)"},
  {ec::stream_already_attached, StatusCode::FAILED_PRECONDITION,
   "this session already has a stream attached"},
  {ec::session_limit, StatusCode::RESOURCE_EXHAUSTED,
   "session limit of this server reached"},
  {ec::slow_consumer, StatusCode::RESOURCE_EXHAUSTED,
   "stream evicted: the client read too slowly and the pending queue "
   "overflowed"},
  {ec::shutting_down, StatusCode::UNAVAILABLE, "server shutting down"},
  {ec::stopped, StatusCode::OK, ""},
  {ec::stream_ended, StatusCode::CANCELLED, "stream ended"},
  {ec::attach_timeout, StatusCode::NOT_FOUND,
   "session expired: no stream attached within the attach timeout"},
  {ec::killed, StatusCode::ABORTED, "session ended by an operator"},
  {ec::client_not_reading, StatusCode::RESOURCE_EXHAUSTED,
   "client not reading"},
  {ec::ticker_limit, StatusCode::RESOURCE_EXHAUSTED,
   "ticker limit of this server reached"},
  {ec::deadline_exceeded, StatusCode::DEADLINE_EXCEEDED,
   "the call's deadline passed"},
  {ec::token_expired, StatusCode::UNAUTHENTICATED, "token expired"},
  // Startup, reload and cluster links: never a call's end, so the default.
  {ec::bad_config, StatusCode::INTERNAL, "internal error"},
  {ec::handshake_failed, StatusCode::INTERNAL, "internal error"},
  {ec::malformed_tick, StatusCode::INTERNAL, "internal error"},
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
    EXPECT_EQ(st.error_message(), r.fallback);
  }
}

TEST(status, the_table_has_a_row_for_every_domain_error) {
  // to_string knows every enumerator (-Wswitch keeps it so): a new code
  // fails here until it gets a row above.
  size_t known = 0;
  for (unsigned i = 1; i <= 255; ++i) {
    auto code = static_cast<ec>(i);
    if (std::string{to_string(code)} == "unknown")
      continue;
    ++known;
    SCOPED_TRACE(to_string(code));
    auto has_row = std::any_of(std::begin(rows), std::end(rows),
                               [&](const row& r) { return r.code == code; });
    EXPECT_TRUE(has_row) << "no row for this code";
  }
  EXPECT_EQ(known, std::size(rows)) << "one row per code";
}

TEST(status, ec_none_is_no_error) {
  EXPECT_FALSE(caf::make_error(ec::none));
  EXPECT_TRUE(to_status(caf::make_error(ec::none)).ok());
  EXPECT_EQ(text_of(caf::error{}), "") << "no error, no text (no crash)";
}

TEST(status, an_unknown_domain_code_is_an_internal_error) {
  auto st = to_status(caf::make_error(static_cast<ec>(200)));
  EXPECT_EQ(st.error_code(), StatusCode::INTERNAL);
  EXPECT_EQ(st.error_message(), "internal error");
  st = to_status(caf::make_error(static_cast<ec>(200), "what happened"));
  EXPECT_EQ(st.error_code(), StatusCode::INTERNAL);
  EXPECT_EQ(st.error_message(), "what happened");
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
  EXPECT_EQ(to_status(caf::sec::request_receiver_down).error_message(),
            "session ended");
  EXPECT_EQ(to_status(caf::exit_reason::user_shutdown).error_message(),
            "server shutting down");
  EXPECT_EQ(to_status(caf::exit_reason::kill).error_message(),
            "session ended by an operator");
  auto other = to_status(caf::sec::unexpected_message);
  EXPECT_EQ(other.error_code(), StatusCode::INTERNAL);
  EXPECT_NE(other.error_message().find("internal error"), std::string::npos);
}

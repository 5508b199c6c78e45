// actors/messages.hpp and the handle IDs in actors/interfaces.hpp: the
// messages that cross nodes with a typed handle in them serialize and come
// back as the same types (what CAF's networking does with them), so a
// handle type missing from add_message_types fails here, not only between
// two processes. Also the error categories add_message_types registers.

#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/ticker_broadcaster.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

class messages_test : public actor_fixture {
public:
  /// `msg` after a trip through CAF's binary serialization.
  caf::message round_trip(caf::message msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = sink(msg)) {
      ADD_FAILURE() << "serialize: " << sys.render(err);
      return {};
    }
    caf::message result;
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(result)) {
      ADD_FAILURE() << "deserialize: " << sys.render(err);
      return {};
    }
    return result;
  }
};

TEST_F(messages_test, a_relays_subscribe_with_its_handle_serializes) {
  auto who = spawn_idle_subscriber();
  auto copy = round_trip(caf::make_message(subscribe_atom::value, who,
                                           stream_position{"AAPL", 7, 42}));
  ASSERT_TRUE(
    (copy.match_elements<subscribe_atom, subscriber, stream_position>()));
  EXPECT_EQ(copy.get_as<subscriber>(1), who);
  EXPECT_EQ(copy.get_as<stream_position>(2).seq, 42u);
  copy = round_trip(caf::make_message(unsubscribe_atom::value, who));
  ASSERT_TRUE((copy.match_elements<unsubscribe_atom, subscriber>()));
  EXPECT_EQ(copy.get_as<subscriber>(1), who);
}

TEST_F(messages_test, a_lookup_and_its_answer_with_a_publisher_serialize) {
  publisher b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  cleanup.push_back(b);
  auto copy = round_trip(
    caf::make_message(get_atom::value, std::string{"AAPL"}, publisher{}));
  ASSERT_TRUE((copy.match_elements<get_atom, std::string, publisher>()));
  EXPECT_FALSE(copy.get_as<publisher>(2));
  copy = round_trip(caf::make_message(b));
  ASSERT_TRUE(copy.match_elements<publisher>());
  EXPECT_EQ(copy.get_as<publisher>(0), b);
}

TEST_F(messages_test, errors_of_both_categories_render_with_code_and_text) {
  EXPECT_EQ(sys.render(caf::make_error(ec::unknown_session, "no such id")),
            "mm::unknown_session (no such id)");
  EXPECT_EQ(sys.render(caf::make_error(ec::killed)), "mm::killed");
  EXPECT_EQ(sys.render(caf::make_error(admin_ec::unknown_ticker, "NVDA")),
            "mm_admin::unknown_ticker (NVDA)");
  EXPECT_EQ(sys.render(caf::make_error(admin_ec::secret_rejected)),
            "mm_admin::secret_rejected");
}

} // namespace

// The shell's own logic without a network: command parsing, human units,
// tables and JSON (checked for shape here; python3 parses it in the
// integration tests).

#include <set>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <gtest/gtest.h>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "app/shell/commands.hpp"
#include "app/shell/render.hpp"

namespace mm::shell {
namespace {

command parsed(const std::string& line) {
  auto cmd = parse_command(line);
  EXPECT_TRUE(cmd) << line << ": " << text_of(cmd.error());
  return cmd ? *cmd : command{};
}

/// What is wrong with `line`, after checking that it is refused with
/// admin_ec::bad_argument; an empty string when it parses.
std::string error_of(const std::string& line) {
  auto cmd = parse_command(line);
  if (cmd)
    return {};
  EXPECT_EQ(cmd.error().category(), caf::atom("mm_admin")) << line;
  EXPECT_EQ(static_cast<admin_ec>(cmd.error().code()), admin_ec::bad_argument)
    << line;
  return text_of(cmd.error());
}

TEST(shell_commands, parses_every_command) {
  EXPECT_EQ(parsed("stats").kind, command_kind::stats);
  EXPECT_EQ(parsed("  tickers ").kind, command_kind::tickers);
  EXPECT_EQ(parsed("actors").kind, command_kind::actors);
  EXPECT_EQ(parsed("help").kind, command_kind::help);
  EXPECT_EQ(parsed("quit").kind, command_kind::quit);
  EXPECT_EQ(parsed("exit").kind, command_kind::quit);
  auto s = parsed("sessions --ticker aapl --limit 5");
  EXPECT_EQ(s.kind, command_kind::sessions);
  EXPECT_EQ(s.ticker, "aapl");
  EXPECT_EQ(s.limit, 5u);
  EXPECT_EQ(parsed("session abc").id, "abc");
  EXPECT_EQ(parsed("ticker MSFT").ticker, "MSFT");
  auto k = parsed("kill abc 'planned maintenance' now");
  EXPECT_EQ(k.kind, command_kind::kill);
  EXPECT_EQ(k.id, "abc");
  EXPECT_EQ(k.reason, "planned maintenance now");
  EXPECT_EQ(parsed("kill abc").reason, "");
  auto w = parsed("watch --count 3 AAPL MSFT");
  EXPECT_EQ(w.kind, command_kind::watch);
  EXPECT_EQ(w.count, 3u);
  EXPECT_EQ(w.tickers, (std::vector<std::string>{"AAPL", "MSFT"}));
}

TEST(shell_commands, says_what_is_wrong) {
  EXPECT_EQ(error_of("frob"), "unknown command \"frob\" (try \"help\")");
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("session").find("usage: session ID"), std::string::npos);
  EXPECT_NE(error_of("session a b").find("too many"), std::string::npos);
  EXPECT_NE(error_of("sessions --limit 0").find("--limit"), std::string::npos);
  EXPECT_NE(error_of("sessions --limit").find("needs a value"),
            std::string::npos);
  EXPECT_NE(error_of("sessions extra").find("unexpected"), std::string::npos);
  EXPECT_NE(error_of("watch").find("at least one ticker"), std::string::npos);
  EXPECT_NE(error_of("watch --count x A").find("--count"), std::string::npos);
  EXPECT_NE(error_of("stats now").find("takes no arguments"),
            std::string::npos);
  EXPECT_NE(error_of("kill 'abc").find("unterminated"), std::string::npos);
}

TEST(shell_table, every_kind_has_one_row_that_runs) {
  std::set<std::string> names;
  for (auto& spec : command_table()) {
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
    EXPECT_NE(spec.run, nullptr) << spec.name;
    EXPECT_LE(spec.min_args, spec.max_args) << spec.name;
    EXPECT_EQ(std::string{spec.usage}.rfind(spec.name, 0), 0u) << spec.name;
    EXPECT_EQ(&command_of(spec.kind), &spec) << spec.name;
    EXPECT_EQ(find_command(spec.name), &spec);
  }
  EXPECT_EQ(names.size(), 11u);
  EXPECT_EQ(find_command("exit"), &command_of(command_kind::quit));
  EXPECT_EQ(find_command("frob"), nullptr);
  EXPECT_EQ(find_command("STATS"), nullptr);
}

TEST(shell_table, unknown_commands_are_named) {
  EXPECT_EQ(error_of("statz"), "unknown command \"statz\" (try \"help\")");
  EXPECT_EQ(error_of("'kill me' now"),
            "unknown command \"kill me\" (try \"help\")");
  EXPECT_EQ(error_of("--json stats"),
            "unknown command \"--json\" (try \"help\")");
}

TEST(shell_table, wrong_arity_says_what_and_how) {
  EXPECT_EQ(error_of("tickers AAPL"),
            "tickers: takes no arguments; usage: tickers");
  EXPECT_EQ(error_of("exit now"), "exit: takes no arguments; usage: quit");
  EXPECT_EQ(error_of("ticker"), "ticker: missing argument; usage: ticker T");
  EXPECT_EQ(error_of("ticker A B"),
            "ticker: too many arguments; usage: ticker T");
  EXPECT_EQ(error_of("kill"), "kill: missing session id; usage: kill ID "
                              "[REASON]");
  EXPECT_EQ(error_of("watch"), "watch: give at least one ticker; usage: "
                               "watch [--count N] T...");
  EXPECT_EQ(error_of("watch --count 2"),
            "watch: give at least one ticker; usage: watch [--count N] T...");
  EXPECT_EQ(error_of("sessions --ticker"),
            "sessions: --ticker needs a value; usage: sessions [--ticker T] "
            "[--limit N]");
  // Repeated options: the last one counts, as before the table.
  auto s = parsed("sessions --limit 2 --ticker A --limit 3 --ticker B");
  EXPECT_EQ(s.limit, 3u);
  EXPECT_EQ(s.ticker, "B");
}

TEST(shell_table, help_lists_every_row) {
  auto text = help_text();
  auto json = help_json();
  for (auto& spec : command_table()) {
    EXPECT_NE(text.find(spec.usage), std::string::npos) << spec.name;
    EXPECT_NE(json.find(std::string{"\"name\":\""} + spec.name + "\""),
              std::string::npos)
      << spec.name;
  }
}

TEST(shell_render, human_units) {
  EXPECT_EQ(human_count(0), "0");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1234), "1.2k");
  EXPECT_EQ(human_count(12345), "12k");
  EXPECT_EQ(human_count(999999), "1.0M");
  EXPECT_EQ(human_count(3400000), "3.4M");
  EXPECT_EQ(human_duration(850), "850ms");
  EXPECT_EQ(human_duration(4200), "4.2s");
  EXPECT_EQ(human_duration(12000), "12s");
  EXPECT_EQ(human_duration(300000), "5m");
  EXPECT_EQ(human_duration(303000), "5m3s");
  EXPECT_EQ(human_duration(7500000), "2h5m");
  EXPECT_EQ(human_duration(273600000), "3d4h");
  EXPECT_EQ(human_ago(-1), "never");
  EXPECT_EQ(human_ago(12000), "12s ago");
  EXPECT_EQ(human_rate({}), "0/s");
  EXPECT_EQ(human_rate({1, 1, 1, 1, 1, 0, 0, 0, 0, 0}), "0.5/s");
  EXPECT_EQ(human_rate(std::vector<uint32_t>(10, 3400)), "3.4k/s");
}

TEST(shell_render, tables_align_columns) {
  table t{{"name", "count"}, {false, true}};
  t.add({"a", "1"});
  t.add({"longer", "12345"});
  EXPECT_EQ(t.render(), "name    count\n"
                        "a           1\n"
                        "longer  12345\n");
}

TEST(shell_render, json_escapes_and_numbers) {
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(json_number(189.25), "189.25");
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(1.0 / 0.0), "null");
}

TEST(shell_render, stats_json_has_the_api_keys) {
  node_stats x;
  x.sessions = 2;
  x.sessions_ended_total["killed"] = 3;
  x.redis_connected = true;
  x.uptime_ms = 1500;
  EXPECT_EQ(stats_json(x),
            "{\"sessions\":2,\"streams\":0,\"broadcasters\":0,"
            "\"redis_subscriptions\":0,\"actors_running\":0,"
            "\"sessions_created_total\":0,"
            "\"sessions_ended_total\":{\"killed\":3},"
            "\"ticks_received_total\":0,\"ticks_malformed_total\":0,"
            "\"updates_delivered_total\":0,\"updates_conflated_total\":0,"
            "\"batches_sent_total\":0,\"redis_connected\":true,"
            "\"uptime_ms\":1500,\"history_entries\":0,"
            "\"history_bytes\":0,\"serving\":true,\"health_reason\":\"\"}\n");
  auto text = stats_text(x);
  EXPECT_NE(text.find("  killed"), std::string::npos);
  EXPECT_NE(text.find("1.5s"), std::string::npos);
}

TEST(shell_render, sessions_text_is_a_table) {
  session_info x;
  x.id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
  x.tickers = {"AAPL", "MSFT"};
  x.stream_attached = true;
  x.peer = "ipv4:127.0.0.1:5000";
  x.delivered = 1234;
  x.age_ms = 65000;
  auto text = sessions_text({x});
  EXPECT_NE(text.find("AAPL,MSFT"), std::string::npos);
  EXPECT_NE(text.find("1m5s"), std::string::npos);
  EXPECT_NE(text.find("1.2k"), std::string::npos);
  EXPECT_NE(text.find("1 session\n"), std::string::npos);
  EXPECT_EQ(sessions_text({}), "no sessions\n");
  EXPECT_NE(session_json(x).find("\"options\":{\"flush_interval_ms\":0"),
            std::string::npos);
}

TEST(shell_render, actors_show_what_is_unaccounted) {
  actor_counts x;
  x.sessions = 3;
  x.broadcasters = 2;
  x.registry = x.directory = x.listener = x.inspector = 1;
  x.total = 10;
  EXPECT_NE(actors_json(x).find("\"other\":1"), std::string::npos);
}

} // namespace
} // namespace mm::shell

// The node's counters as /metrics renders them (Prometheus text format),
// the health rule and the log line format: no network, no actors.

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actors/health.hpp"
#include "actors/metrics.hpp"
#include "logging/log.hpp"
#include "service/prometheus_text.hpp"

namespace mm {
namespace {

constexpr int64_t ms = 1'000'000; // ns

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(metrics, histogram_slots_are_upper_inclusive) {
  histogram<3> h{{{1, 5, 10}}};
  EXPECT_EQ(h.slot(0), 0u);
  EXPECT_EQ(h.slot(1), 0u);
  EXPECT_EQ(h.slot(2), 1u);
  EXPECT_EQ(h.slot(10), 2u);
  EXPECT_EQ(h.slot(11), 3u);
  h.observe(7);
  decltype(h)::batch b{h};
  b.observe(1);
  b.observe(100);
  b.observe(100);
  b.commit();
  EXPECT_EQ(h.counts[0].load(), 1u);
  EXPECT_EQ(h.counts[2].load(), 1u);
  EXPECT_EQ(h.counts[3].load(), 2u);
  EXPECT_EQ(h.sum.load(), 208u);
}

TEST(metrics, count_batch_fills_the_histograms) {
  metrics m;
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  // 20 ms old, and one from a feed clock ahead of ours.
  std::vector<int64_t> ts{now - 20 * ms, now + 1000 * ms};
  m.count_batch(ts, 3, [](int64_t x) { return x; });
  EXPECT_EQ(m.batches_sent_total.load(), 1u);
  EXPECT_EQ(m.updates_delivered_total.load(), 2u);
  EXPECT_EQ(m.updates_conflated_total.load(), 3u);
  uint64_t latencies = 0;
  for (auto& x : m.tick_to_write_ns.counts)
    latencies += x.load();
  EXPECT_EQ(latencies, 2u);
  // The future one counts as 0, in the first bucket.
  EXPECT_EQ(m.tick_to_write_ns.counts[0].load(), 1u);
  EXPECT_GE(m.tick_to_write_ns.sum.load(), uint64_t{20 * ms});
  EXPECT_EQ(m.batch_size.counts[m.batch_size.slot(2)].load(), 1u);
}

TEST(prometheus_text, families_have_help_and_type) {
  prometheus_text out;
  out.family("x_total", "counter", "Things\\counted.\nTwice.");
  out.sample("x_total", {{"a", "q\"u\\o\nte"}}, uint64_t{3});
  out.sample("x_total", 0.5);
  EXPECT_EQ(out.str(), "# HELP x_total Things\\\\counted.\\nTwice.\n"
                       "# TYPE x_total counter\n"
                       "x_total{a=\"q\\\"u\\\\o\\nte\"} 3\n"
                       "x_total 0.5\n");
}

TEST(prometheus_text, histograms_are_cumulative_with_inf) {
  prometheus_text out;
  histogram<2> h{{{1'000'000, 5'000'000}}};
  h.observe(500'000);
  h.observe(2'000'000);
  h.observe(9'000'000);
  out.histogram_samples("lat_seconds", h, 1e9);
  EXPECT_EQ(out.str(), "lat_seconds_bucket{le=\"0.001\"} 1\n"
                       "lat_seconds_bucket{le=\"0.005\"} 2\n"
                       "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                       "lat_seconds_sum 0.0115\n"
                       "lat_seconds_count 3\n");
}

TEST(prometheus_text, numbers) {
  EXPECT_EQ(prometheus_text::number(1.0), "1");
  EXPECT_EQ(prometheus_text::number(0.25), "0.25");
  EXPECT_EQ(prometheus_text::number(1e-4), "0.0001");
  EXPECT_EQ(prometheus_text::number(1.0 / 0.0), "+Inf");
}

TEST(prometheus_text, render_metrics_names_every_family) {
  metrics m;
  m.sessions = 4;
  m.count_end(end_reason::evicted);
  m.count_end(end_reason::peer_dead);
  m.count_end(end_reason::token_expired);
  m.rpc_calls[4][0] = 7;                     // Subscribe, OK
  m.rpc_calls[rpc_method_count - 1][12] = 1; // other, UNIMPLEMENTED
  node_config cfg;
  process_stats proc;
  proc.threads = 9;
  auto text = render_metrics(m, cfg, {false, "shutting down"}, 42, proc);
  for (auto* name :
       {"marketmonitor_sessions 4", "marketmonitor_health_serving 0",
        "marketmonitor_sessions_ended_total{reason=\"evicted\"} 1",
        "marketmonitor_sessions_ended_total{reason=\"peer_dead\"} 1",
        "marketmonitor_sessions_ended_total{reason=\"token_expired\"} 1",
        "marketmonitor_sessions_ended_total{reason=\"deadline\"} 0",
        "marketmonitor_evictions_total 2",
        "marketmonitor_grpc_server_handled_total{grpc_service=\"marketmonitor"
        ".v1.MarketMonitor\",grpc_method=\"Subscribe\",grpc_code=\"OK\"} 7",
        "grpc_service=\"other\",grpc_method=\"other\","
        "grpc_code=\"UNIMPLEMENTED\"} 1",
        "marketmonitor_actors_running 42", "process_threads 9",
        "marketmonitor_info{role=\"standalone\",version=\"",
        "# TYPE marketmonitor_tick_to_write_latency_seconds histogram",
        "marketmonitor_tick_to_write_latency_seconds_bucket{le=\"+Inf\"} 0",
        "# TYPE marketmonitor_batch_size_updates histogram",
        "# TYPE process_cpu_seconds_total counter"})
    EXPECT_TRUE(contains(text, name)) << name << "\n" << text;
}

// --- health ---

TEST(health, redis_down_beyond_the_grace_is_not_serving) {
  metrics m;
  auto grace = std::chrono::milliseconds{5000};
  auto t0 = m.redis_down_since_ns.load();
  // Not connected since the start, within the grace: serving.
  EXPECT_TRUE(
    check_health(m, node_role::standalone, grace, t0 + 4999 * ms).serving);
  auto late = check_health(m, node_role::standalone, grace, t0 + 5001 * ms);
  EXPECT_FALSE(late.serving);
  EXPECT_TRUE(contains(late.why, "Redis unreachable for 5.0 s")) << late.why;
  m.set_redis_connected(true);
  EXPECT_TRUE(check_health(m, node_role::hub, grace, t0 + 9000 * ms).serving);
  // Lost again: the grace counts from the loss.
  m.set_redis_connected(false);
  auto lost = m.redis_down_since_ns.load();
  EXPECT_GE(lost, t0);
  EXPECT_TRUE(
    check_health(m, node_role::standalone, grace, lost + 10 * ms).serving);
  EXPECT_FALSE(
    check_health(m, node_role::standalone, grace, lost + 6000 * ms).serving);
  // A second "down" does not move the start of the outage.
  m.set_redis_connected(false);
  EXPECT_EQ(m.redis_down_since_ns.load(), lost);
}

TEST(health, an_edge_needs_a_hub) {
  metrics m;
  auto grace = std::chrono::milliseconds{1000};
  auto t0 = m.hubs_down_since_ns.load();
  // Redis plays no part on an edge.
  EXPECT_FALSE(check_health(m, node_role::edge, grace, t0 + 2000 * ms).serving);
  m.count_hub_link(1);
  m.count_hub_link(1);
  EXPECT_TRUE(check_health(m, node_role::edge, grace, t0 + 3000 * ms).serving);
  m.count_hub_link(-1);
  EXPECT_TRUE(check_health(m, node_role::edge, grace, t0 + 9000 * ms).serving);
  m.count_hub_link(-1);
  auto lost = m.hubs_down_since_ns.load();
  EXPECT_TRUE(check_health(m, node_role::edge, grace, lost + 500 * ms).serving);
  auto h = check_health(m, node_role::edge, grace, lost + 1500 * ms);
  EXPECT_FALSE(h.serving);
  EXPECT_TRUE(contains(h.why, "no hub reachable")) << h.why;
}

TEST(health, shutdown_is_not_serving) {
  metrics m;
  m.set_redis_connected(true);
  m.shutting_down = true;
  auto h = check_health(m, node_role::standalone,
                        std::chrono::milliseconds{5000},
                        metrics::steady_now_ns());
  EXPECT_FALSE(h.serving);
  EXPECT_EQ(h.why, "shutting down");
}

// --- log lines ---

TEST(log, levels_and_formats_parse) {
  log::level lvl = log::level::info;
  EXPECT_TRUE(log::parse_level("warn", lvl));
  EXPECT_EQ(lvl, log::level::warn);
  EXPECT_FALSE(log::parse_level("verbose", lvl));
  log::format fmt = log::format::text;
  EXPECT_TRUE(log::parse_format("json", fmt));
  EXPECT_EQ(fmt, log::format::json);
  EXPECT_FALSE(log::parse_format("xml", fmt));
}

TEST(log, text_lines_keep_the_component_prefix) {
  EXPECT_EQ(log::render(log::format::text, "redis_listener",
                        "connected to Redis at 127.0.0.1:6379", {}),
            "redis_listener: connected to Redis at 127.0.0.1:6379");
  EXPECT_EQ(log::render(log::format::text, "session", "ended",
                        {{"id", "ab-1"}, {"tickers", 3}, {"why", "a b"}}),
            "session: ended id=ab-1 tickers=3 why=\"a b\"");
}

TEST(log, json_lines_are_objects_with_fields) {
  EXPECT_EQ(log::render(log::format::json, "session", "say \"hi\"\n",
                        {{"tickers", 3}, {"ok", true}, {"peer", "ipv4:1"}}),
            "\"component\":\"session\",\"message\":\"say \\\"hi\\\"\\n\","
            "\"tickers\":3,\"ok\":true,\"peer\":\"ipv4:1\"");
}

} // namespace
} // namespace mm

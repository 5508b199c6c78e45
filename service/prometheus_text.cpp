#include "service/prometheus_text.hpp"

#include <charconv>
#include <cmath>
#include <utility>

namespace mm {

// --- prometheus_text ---------------------------------------------------------

void prometheus_text::family(const std::string& name, const char* type,
                             const std::string& help) {
  out_ += "# HELP " + name + ' ';
  for (auto c : help) {
    if (c == '\\')
      out_ += "\\\\";
    else if (c == '\n')
      out_ += "\\n";
    else
      out_ += c;
  }
  out_ += "\n# TYPE " + name + ' ' + type + '\n';
}

void prometheus_text::start_sample(const std::string& name, const labels& ls) {
  out_ += name;
  if (!ls.empty()) {
    out_ += '{';
    for (size_t i = 0; i < ls.size(); ++i) {
      if (i > 0)
        out_ += ',';
      out_ += ls[i].first + "=\"" + escape(ls[i].second) + '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void prometheus_text::sample(const std::string& name, const labels& ls,
                             double value) {
  start_sample(name, ls);
  out_ += number(value) + '\n';
}

void prometheus_text::sample(const std::string& name, const labels& ls,
                             uint64_t value) {
  start_sample(name, ls);
  out_ += std::to_string(value) + '\n';
}

void prometheus_text::histogram_samples(const std::string& name,
                                        const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& counts,
                                        double sum) {
  // Cumulative, and _count is the +Inf bucket: consistent even when
  // observations land while we read.
  uint64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    total += counts[i];
    auto le = i < bounds.size() ? number(bounds[i]) : std::string{"+Inf"};
    sample(name + "_bucket", {{"le", le}}, total);
  }
  sample(name + "_sum", sum);
  sample(name + "_count", total);
}

std::string prometheus_text::number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Plain decimals where they stay short (le="0.0001", not "1e-04").
  auto a = std::fabs(x);
  auto res = a == 0 || (a >= 1e-6 && a < 1e15)
               ? std::to_chars(buf, buf + sizeof(buf), x,
                               std::chars_format::fixed)
               : std::to_chars(buf, buf + sizeof(buf), x);
  return std::string(buf, res.ptr);
}

std::string prometheus_text::escape(const std::string& x) {
  std::string result;
  for (auto c : x) {
    if (c == '\\')
      result += "\\\\";
    else if (c == '"')
      result += "\\\"";
    else if (c == '\n')
      result += "\\n";
    else
      result += c;
  }
  return result;
}

// --- render_metrics ----------------------------------------------------------

namespace {

template <class T>
uint64_t get(const std::atomic<T>& x) {
  auto v = x.load(std::memory_order_relaxed);
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

const char* role_name(node_role x) {
  switch (x) {
    case node_role::standalone: return "standalone";
    case node_role::hub: return "hub";
    case node_role::edge: return "edge";
  }
  return "unknown";
}

const char* code_name(size_t code) {
  static constexpr const char* names[] = {"OK",
                                          "CANCELLED",
                                          "UNKNOWN",
                                          "INVALID_ARGUMENT",
                                          "DEADLINE_EXCEEDED",
                                          "NOT_FOUND",
                                          "ALREADY_EXISTS",
                                          "PERMISSION_DENIED",
                                          "RESOURCE_EXHAUSTED",
                                          "FAILED_PRECONDITION",
                                          "ABORTED",
                                          "OUT_OF_RANGE",
                                          "UNIMPLEMENTED",
                                          "INTERNAL",
                                          "UNAVAILABLE",
                                          "DATA_LOSS",
                                          "UNAUTHENTICATED"};
  return code < rpc_code_count ? names[code] : "UNKNOWN";
}

/// Splits "/pkg.Service/Method" into service and method.
std::pair<std::string, std::string> split_method(const std::string& x) {
  auto slash = x.rfind('/');
  if (x.empty() || x[0] != '/' || slash == 0 || slash == std::string::npos)
    return {x, x};
  return {x.substr(1, slash - 1), x.substr(slash + 1)};
}

} // namespace

std::string render_metrics(const metrics& m, const node_config& cfg,
                           const health_status& health, uint64_t actors_running,
                           const process_stats& proc) {
  prometheus_text out;
  const std::string p = "marketmonitor_";
  auto gauge = [&](const std::string& name, const std::string& help,
                   uint64_t value) {
    out.family(p + name, "gauge", help);
    out.sample(p + name, value);
  };
  auto counter = [&](const std::string& name, const std::string& help,
                     uint64_t value) {
    out.family(p + name, "counter", help);
    out.sample(p + name, value);
  };
  out.family(p + "info", "gauge", "The node's role and version (always 1).");
  out.sample(p + "info",
             {{"role", role_name(cfg.role)}, {"version", MM_VERSION}},
             uint64_t{1});
  gauge("health_serving",
        "1 while the gRPC health service says SERVING, 0 while NOT_SERVING.",
        health.serving ? 1 : 0);
  // --- sessions and streams ---
  gauge("sessions", "Sessions open.", get(m.sessions));
  gauge("streams", "Streams attached to a session.", get(m.streams));
  counter("sessions_started_total", "Sessions started.",
          get(m.sessions_created_total));
  out.family(p + "sessions_ended_total", "counter",
             "Sessions ended, by how they ended (docs/operations.md: cancel "
             "includes connections gRPC's keepalive found dead, peer_dead "
             "counts writes stalled past --write-stall-timeout-ms).");
  for (size_t i = 0; i < end_reason_count; ++i)
    out.sample(p + "sessions_ended_total",
               {{"reason", to_label(static_cast<end_reason>(i))}},
               get(m.sessions_ended[i]));
  counter("evictions_total",
          "Sessions evicted as too slow (DELIVERY_MODE_ALL queue full, or a "
          "write stalled past --write-stall-timeout-ms).",
          get(m.sessions_ended[static_cast<size_t>(end_reason::evicted)])
            + get(
              m.sessions_ended[static_cast<size_t>(end_reason::peer_dead)]));
  out.family(p + "limit_refusals_total", "counter",
             "Calls refused by a limit per client or node "
             "(docs/security.md), by limit.");
  for (auto [limit, value] :
       {std::pair{"sessions_per_client", &m.client_session_limit_total},
        std::pair{"rate", &m.rate_limited_total},
        std::pair{"tickers", &m.ticker_limit_total},
        std::pair{"allowlist", &m.ticker_not_allowed_total}})
    out.sample(p + "limit_refusals_total", {{"limit", limit}}, get(*value));
  out.family(p + "grpc_server_handled_total", "counter",
             "RPCs completed on the server, by method and status code.");
  for (size_t i = 0; i < rpc_method_count; ++i) {
    auto [service, method] = split_method(rpc_methods[i]);
    for (size_t code = 0; code < rpc_code_count; ++code) {
      auto n = get(m.rpc_calls[i][code]);
      if (n > 0)
        out.sample(p + "grpc_server_handled_total",
                   {{"grpc_service", service},
                    {"grpc_method", method},
                    {"grpc_code", code_name(code)}},
                   n);
    }
  }
  // --- ticks and updates ---
  gauge("broadcasters", "Ticker broadcasters running (one per watched ticker).",
        get(m.broadcasters));
  gauge("redis_subscriptions", "Redis channels subscribed.",
        get(m.redis_subscriptions));
  counter("ticks_received_total", "Ticks read from Redis.",
          get(m.ticks_received_total));
  counter("ticks_malformed_total", "Ticks dropped as malformed.",
          get(m.ticks_malformed_total));
  counter("updates_delivered_total", "Updates written to client streams.",
          get(m.updates_delivered_total));
  counter("updates_conflated_total",
          "Updates replaced by a newer one of the same ticker before they "
          "were written (DELIVERY_MODE_CONFLATE).",
          get(m.updates_conflated_total));
  counter("batches_sent_total", "PriceBatch messages written to clients.",
          get(m.batches_sent_total));
  out.family(p + "tick_to_write_latency_seconds", "histogram",
             "From a tick's feed timestamp to the hand-over of its batch to "
             "gRPC, per update.");
  out.histogram_samples(p + "tick_to_write_latency_seconds", m.tick_to_write_ns,
                        1e9);
  out.family(p + "batch_size_updates", "histogram",
             "Updates per PriceBatch written to a client.");
  out.histogram_samples(p + "batch_size_updates", m.batch_size, 1.0);
  // --- upstream ---
  gauge("redis_up", "1 while the connection to Redis is up.",
        m.redis_connected.load(std::memory_order_relaxed) ? 1 : 0);
  counter("redis_reconnects_total",
          "Connections to Redis made again after a loss.",
          get(m.redis_reconnects_total));
  gauge("cluster_links_up", "Edge: hubs it is connected to.",
        get(m.cluster_links_up));
  gauge("cluster_relays",
        "Edge: relays running; hub: edges' relays subscribed here.",
        get(m.relays));
  gauge("actors_running", "Actors running in the node's actor system.",
        actors_running);
  // --- the process (Prometheus' standard process metrics) ---
  out.family("process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.");
  out.sample("process_cpu_seconds_total", proc.cpu_seconds);
  out.family("process_resident_memory_bytes", "gauge",
             "Resident memory size in bytes.");
  out.sample("process_resident_memory_bytes", proc.resident_bytes);
  out.family("process_virtual_memory_bytes", "gauge",
             "Virtual memory size in bytes.");
  out.sample("process_virtual_memory_bytes", proc.virtual_bytes);
  out.family("process_open_fds", "gauge", "Number of open file descriptors.");
  out.sample("process_open_fds", proc.open_fds);
  out.family("process_max_fds", "gauge",
             "Maximum number of open file descriptors.");
  out.sample("process_max_fds", proc.max_fds);
  out.family("process_threads", "gauge", "Number of OS threads.");
  out.sample("process_threads", proc.threads);
  out.family("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
  out.sample("process_start_time_seconds", proc.start_time_seconds);
  return out.str();
}

} // namespace mm

#include "app/shell/render.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numeric>
#include <utility>

#include "app/shell/commands.hpp"

namespace mm::shell {

namespace {

/// "1.2" for x < 10 and "12" above: two significant digits read at a glance.
std::string short_number(double x) {
  char buf[32];
  if (x < 9.95)
    std::snprintf(buf, sizeof(buf), "%.1f", x);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", x);
  return buf;
}

std::string price_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", x);
  return buf;
}

const char* mode_name(delivery_mode x) {
  return x == delivery_mode::all ? "all" : "conflate";
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string result;
  for (auto& x : xs) {
    if (!result.empty())
      result += sep;
    result += x;
  }
  return result;
}

std::string flush_text(uint32_t ms) {
  return ms == 0 ? "adaptive" : std::to_string(ms) + "ms";
}

// A JSON object or array assembled from already rendered values.
using fields = std::vector<std::pair<std::string, std::string>>;

std::string object(const fields& xs) {
  std::string result = "{";
  for (auto& [key, val] : xs) {
    if (result.size() > 1)
      result += ',';
    result += json_string(key);
    result += ':';
    result += val;
  }
  result += '}';
  return result;
}

std::string array(const std::vector<std::string>& xs) {
  return "[" + join(xs, ",") + "]";
}

std::string strings(const std::vector<std::string>& xs) {
  std::vector<std::string> result;
  result.reserve(xs.size());
  for (auto& x : xs)
    result.push_back(json_string(x));
  return array(result);
}

template <class T>
std::string num(T x) {
  return std::to_string(x);
}

std::string boolean(bool x) {
  return x ? "true" : "false";
}

std::string update_json(const price_update& x) {
  return object({{"ticker", json_string(x.ticker)},
                 {"price", json_number(x.price)},
                 {"volume", num(x.volume)},
                 {"ts_unix_nanos", num(x.ts)},
                 {"seq", num(x.seq)},
                 {"epoch", num(x.epoch)},
                 {"gap", boolean(x.gap)}});
}

double rate_of(const std::vector<uint32_t>& per_second) {
  if (per_second.empty())
    return 0;
  auto sum = std::accumulate(per_second.begin(), per_second.end(), 0.0);
  return sum / static_cast<double>(per_second.size());
}

fields session_fields(const session_info& x) {
  return {{"id", json_string(x.id)},
          {"tickers", strings(x.tickers)},
          {"mode", json_string(mode_name(x.opts.mode))},
          {"age_ms", num(x.age_ms)},
          {"stream_attached", boolean(x.stream_attached)},
          {"peer", json_string(x.peer)},
          {"delivered", num(x.delivered)},
          {"conflated", num(x.conflated)},
          {"pending", num(x.pending)}};
}

std::string counts_by_name(const std::map<std::string, uint64_t>& xs) {
  fields result;
  for (auto& [name, n] : xs)
    result.emplace_back(name, num(n));
  return object(result);
}

fields node_fields(const node_info& x) {
  return {
    {"role", json_string(x.role)},       {"address", json_string(x.address)},
    {"admin", json_string(x.admin)},     {"node_id", json_string(x.node_id)},
    {"up_since_ms", num(x.up_since_ms)}, {"sessions", num(x.sessions)},
    {"relays", num(x.relays)},           {"broadcasters", num(x.broadcasters)},
    {"state", json_string(x.state)}};
}

fields ticker_fields(const ticker_info& x) {
  std::vector<std::string> counts;
  for (auto n : x.per_second)
    counts.push_back(num(n));
  return {{"ticker", json_string(x.ticker)},
          {"subscribers", num(x.subscribers)},
          {"remote_subscribers", num(x.remote_subscribers)},
          {"remote_by_node", counts_by_name(x.remote_by_node)},
          {"seq", num(x.seq)},
          {"epoch", num(x.epoch)},
          {"upstream_connected", boolean(x.upstream_connected)},
          {"history", num(x.history)},
          {"last", x.last.empty() ? "null" : update_json(x.last.front())},
          {"last_update_ms", num(x.last_update_ms)},
          {"rate_per_s", json_number(rate_of(x.per_second))},
          {"per_second", array(counts)}};
}

} // namespace

// --- human units -------------------------------------------------------------

std::string human_count(uint64_t n) {
  if (n < 1000)
    return std::to_string(n);
  static const char* suffixes[] = {"k", "M", "G", "T", "P", "E"};
  auto x = static_cast<double>(n);
  size_t i = 0;
  x /= 1000;
  while (x >= 999.5 && i + 1 < sizeof(suffixes) / sizeof(suffixes[0])) {
    x /= 1000;
    ++i;
  }
  return short_number(x) + suffixes[i];
}

std::string human_duration(int64_t ms) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    return std::to_string(ms) + "ms";
  if (ms < 10000)
    return short_number(static_cast<double>(ms) / 1000) + "s";
  auto s = ms / 1000;
  if (s < 60)
    return std::to_string(s) + "s";
  auto two = [](int64_t big, const char* u1, int64_t small, const char* u2) {
    auto result = std::to_string(big) + u1;
    if (small > 0)
      result += std::to_string(small) + u2;
    return result;
  };
  if (s < 3600)
    return two(s / 60, "m", s % 60, "s");
  if (s < 86400)
    return two(s / 3600, "h", s % 3600 / 60, "m");
  return two(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string human_ago(int64_t ms) {
  if (ms < 0)
    return "never";
  return human_duration(ms) + " ago";
}

std::string human_rate(const std::vector<uint32_t>& per_second) {
  auto r = rate_of(per_second);
  if (r == 0)
    return "0/s";
  if (r < 0.95)
    return short_number(r) + "/s";
  return human_count(static_cast<uint64_t>(std::llround(r))) + "/s";
}

std::string clock_time(int64_t unix_nanos) {
  auto secs = static_cast<time_t>(unix_nanos / 1000000000);
  auto millis = static_cast<int>((unix_nanos / 1000000) % 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
                tm.tm_sec, millis < 0 ? 0 : millis);
  return buf;
}

// --- tables ------------------------------------------------------------------

table::table(std::vector<std::string> header, std::vector<bool> right_aligned)
  : right_(std::move(right_aligned)) {
  right_.resize(header.size(), false);
  rows_.push_back(std::move(header));
}

void table::add(std::vector<std::string> row) {
  row.resize(rows_.front().size());
  rows_.push_back(std::move(row));
}

std::string table::render() const {
  std::vector<size_t> width(rows_.front().size(), 0);
  for (auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string result;
  for (auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0)
        line += "  ";
      auto pad = std::string(width[i] - row[i].size(), ' ');
      line += right_[i] ? pad + row[i] : row[i] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    result += line;
    result += '\n';
  }
  return result;
}

// --- JSON --------------------------------------------------------------------

std::string json_string(const std::string& x) {
  std::string result = "\"";
  for (auto c : x) {
    switch (c) {
      case '"': result += "\\\""; break;
      case '\\': result += "\\\\"; break;
      case '\n': result += "\\n"; break;
      case '\r': result += "\\r"; break;
      case '\t': result += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          result += buf;
        } else {
          result += c;
        }
    }
  }
  result += '"';
  return result;
}

std::string json_number(double x) {
  if (!std::isfinite(x))
    return "null";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  return std::string(buf, res.ptr);
}

// --- the answers -------------------------------------------------------------

std::string stats_text(const node_stats& x) {
  table t{{"key", "value"}, {false, true}};
  t.add({"sessions", num(x.sessions)});
  t.add({"streams", num(x.streams)});
  t.add({"broadcasters", num(x.broadcasters)});
  t.add({"redis_subscriptions", num(x.redis_subscriptions)});
  t.add({"redis_connected", x.redis_connected ? "yes" : "NO"});
  t.add({"actors_running", num(x.actors_running)});
  t.add({"sessions_created_total", human_count(x.sessions_created_total)});
  uint64_t ended = 0;
  for (auto& kvp : x.sessions_ended_total)
    ended += kvp.second;
  t.add({"sessions_ended_total", human_count(ended)});
  for (auto& kvp : x.sessions_ended_total)
    t.add({"  " + kvp.first, human_count(kvp.second)});
  t.add({"ticks_received_total", human_count(x.ticks_received_total)});
  t.add({"ticks_malformed_total", human_count(x.ticks_malformed_total)});
  t.add({"updates_delivered_total", human_count(x.updates_delivered_total)});
  t.add({"updates_conflated_total", human_count(x.updates_conflated_total)});
  t.add({"batches_sent_total", human_count(x.batches_sent_total)});
  t.add({"history_entries", human_count(x.history_entries)});
  t.add({"history_bytes", human_count(x.history_bytes)});
  t.add({"uptime", human_duration(x.uptime_ms)});
  t.add({"health", x.serving ? "SERVING" : "NOT_SERVING: " + x.health_reason});
  return t.render();
}

std::string stats_json(const node_stats& x) {
  fields ended;
  for (auto& kvp : x.sessions_ended_total)
    ended.emplace_back(kvp.first, num(kvp.second));
  return object({{"sessions", num(x.sessions)},
                 {"streams", num(x.streams)},
                 {"broadcasters", num(x.broadcasters)},
                 {"redis_subscriptions", num(x.redis_subscriptions)},
                 {"actors_running", num(x.actors_running)},
                 {"sessions_created_total", num(x.sessions_created_total)},
                 {"sessions_ended_total", object(ended)},
                 {"ticks_received_total", num(x.ticks_received_total)},
                 {"ticks_malformed_total", num(x.ticks_malformed_total)},
                 {"updates_delivered_total", num(x.updates_delivered_total)},
                 {"updates_conflated_total", num(x.updates_conflated_total)},
                 {"batches_sent_total", num(x.batches_sent_total)},
                 {"redis_connected", boolean(x.redis_connected)},
                 {"uptime_ms", num(x.uptime_ms)},
                 {"history_entries", num(x.history_entries)},
                 {"history_bytes", num(x.history_bytes)},
                 {"serving", boolean(x.serving)},
                 {"health_reason", json_string(x.health_reason)}})
         + "\n";
}

std::string sessions_text(const std::vector<session_info>& xs) {
  if (xs.empty())
    return "no sessions\n";
  table t{{"id", "tickers", "mode", "age", "stream", "peer", "delivered",
           "conflated", "pending"},
          {false, false, false, true, false, false, true, true, true}};
  for (auto& x : xs) {
    auto tickers = join(x.tickers, ",");
    if (tickers.size() > 24)
      tickers = tickers.substr(0, 21) + "...";
    t.add({x.id, tickers, mode_name(x.opts.mode), human_duration(x.age_ms),
           x.stream_attached ? "yes" : "no", x.peer.empty() ? "-" : x.peer,
           human_count(x.delivered), human_count(x.conflated),
           human_count(x.pending)});
  }
  return t.render() + std::to_string(xs.size())
         + (xs.size() == 1 ? " session\n" : " sessions\n");
}

std::string sessions_json(const std::vector<session_info>& xs) {
  std::vector<std::string> items;
  items.reserve(xs.size());
  for (auto& x : xs)
    items.push_back(object(session_fields(x)));
  return object({{"count", num(xs.size())}, {"sessions", array(items)}}) + "\n";
}

std::string session_text(const session_info& x) {
  table t{{"field", "value"}};
  t.add({"id", x.id});
  t.add({"tickers", join(x.tickers, " ")});
  t.add({"mode", mode_name(x.opts.mode)});
  t.add({"flush_interval", flush_text(x.opts.flush_interval_ms)});
  t.add({"max_batch", num(x.opts.max_batch)});
  t.add({"snapshot", x.opts.snapshot ? "yes" : "no"});
  t.add({"age", human_duration(x.age_ms)});
  t.add({"stream", x.stream_attached ? "attached" : "not attached"});
  t.add({"peer", x.peer.empty() ? "-" : x.peer});
  t.add({"write_in_flight", x.write_in_flight ? "yes" : "no"});
  t.add({"batches", human_count(x.batches)});
  t.add({"delivered", human_count(x.delivered)});
  t.add({"conflated", human_count(x.conflated)});
  t.add({"pending", human_count(x.pending)});
  t.add({"last_update", human_ago(x.last_update_ms)});
  t.add({"last_write", human_ago(x.last_write_ms)});
  return t.render();
}

std::string session_json(const session_info& x) {
  auto f = session_fields(x);
  f.emplace_back("options",
                 object({{"flush_interval_ms", num(x.opts.flush_interval_ms)},
                         {"snapshot", boolean(x.opts.snapshot)},
                         {"max_batch", num(x.opts.max_batch)},
                         {"mode", json_string(mode_name(x.opts.mode))}}));
  f.emplace_back("write_in_flight", boolean(x.write_in_flight));
  f.emplace_back("batches", num(x.batches));
  f.emplace_back("last_update_ms", num(x.last_update_ms));
  f.emplace_back("last_write_ms", num(x.last_write_ms));
  return object(f) + "\n";
}

std::string tickers_text(const std::vector<ticker_info>& xs) {
  if (xs.empty())
    return "no tickers\n";
  table t{{"ticker", "subscribers", "remote", "seq", "last", "updated", "rate"},
          {false, true, true, true, true, false, true}};
  for (auto& x : xs)
    t.add({x.ticker, human_count(x.subscribers),
           human_count(x.remote_subscribers), num(x.seq),
           x.last.empty() ? "-" : price_text(x.last.front().price),
           human_ago(x.last_update_ms), human_rate(x.per_second)});
  return t.render() + std::to_string(xs.size())
         + (xs.size() == 1 ? " ticker\n" : " tickers\n");
}

std::string tickers_json(const std::vector<ticker_info>& xs) {
  std::vector<std::string> items;
  items.reserve(xs.size());
  for (auto& x : xs)
    items.push_back(object(ticker_fields(x)));
  return object({{"count", num(xs.size())}, {"tickers", array(items)}}) + "\n";
}

std::string ticker_text(const ticker_info& x) {
  table t{{"field", "value"}};
  t.add({"ticker", x.ticker});
  t.add({"subscribers", num(x.subscribers)});
  t.add({"remote_subscribers", num(x.remote_subscribers)});
  for (auto& [name, n] : x.remote_by_node)
    t.add({"  from " + name, num(n)});
  t.add({"epoch", num(x.epoch)});
  t.add({"seq", num(x.seq)});
  t.add({"upstream", x.upstream_connected ? "connected" : "disconnected"});
  t.add({"history", num(x.history)});
  if (x.last.empty()) {
    t.add({"last", "-"});
  } else {
    auto& u = x.last.front();
    t.add({"last", price_text(u.price) + " x " + num(u.volume) + " at "
                     + clock_time(u.ts)});
  }
  t.add({"updated", human_ago(x.last_update_ms)});
  t.add({"rate (10s)", human_rate(x.per_second)});
  std::vector<std::string> counts;
  for (auto n : x.per_second)
    counts.push_back(num(n));
  t.add({"per second", join(counts, " ")});
  return t.render();
}

std::string ticker_json(const ticker_info& x) {
  return object(ticker_fields(x)) + "\n";
}

std::string nodes_text(const std::vector<node_info>& xs) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  using std::chrono::system_clock;
  auto now =
    duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  table t{{"role", "address", "up", "sessions", "relays", "broadcasters",
           "state"},
          {false, false, true, true, true, true, false}};
  for (auto& x : xs)
    t.add({x.role, x.address.empty() ? "-" : x.address,
           x.up_since_ms > 0 ? human_duration(now - x.up_since_ms) : "-",
           num(x.sessions), num(x.relays), num(x.broadcasters), x.state});
  return t.render();
}

std::string nodes_json(const std::vector<node_info>& xs) {
  std::vector<std::string> items;
  items.reserve(xs.size());
  for (auto& x : xs)
    items.push_back(object(node_fields(x)));
  return object({{"count", num(xs.size())}, {"nodes", array(items)}}) + "\n";
}

std::string actors_text(const actor_counts& x) {
  auto known = x.sessions + x.broadcasters + x.registry + x.directory
               + x.listener + x.inspector;
  auto other = static_cast<int64_t>(x.total) - known;
  table t{{"kind", "running"}, {false, true}};
  t.add({"session", num(x.sessions)});
  t.add({"ticker_broadcaster", num(x.broadcasters)});
  t.add({"session_registry", num(x.registry)});
  t.add({"ticker_directory", num(x.directory)});
  t.add({"redis_listener", num(x.listener)});
  t.add({"inspector", num(x.inspector)});
  t.add({"other", num(other)});
  t.add({"total", num(x.total)});
  return t.render() + "remote watchers subscribed: " + num(x.watchers) + "\n";
}

std::string actors_json(const actor_counts& x) {
  auto known = x.sessions + x.broadcasters + x.registry + x.directory
               + x.listener + x.inspector;
  return object({{"sessions", num(x.sessions)},
                 {"broadcasters", num(x.broadcasters)},
                 {"registry", num(x.registry)},
                 {"directory", num(x.directory)},
                 {"listener", num(x.listener)},
                 {"inspector", num(x.inspector)},
                 {"other", num(static_cast<int64_t>(x.total) - known)},
                 {"total", num(x.total)},
                 {"watchers", num(x.watchers)}})
         + "\n";
}

std::string kill_text(const std::string& id, const std::string& reason) {
  return "killed session " + id + " ("
         + (reason.empty() ? "ended by an operator" : reason) + ")\n";
}

std::string kill_json(const std::string& id, const std::string& reason) {
  return object({{"killed", json_string(id)},
                 {"reason", json_string(reason.empty() ? "ended by an operator"
                                                       : reason)}})
         + "\n";
}

std::string help_text() {
  table t{{"command", "what it shows or does"}};
  for (auto& doc : command_table())
    t.add({doc.usage, doc.summary});
  return t.render();
}

std::string help_json() {
  std::vector<std::string> items;
  for (auto& doc : command_table())
    items.push_back(object({{"name", json_string(doc.name)},
                            {"usage", json_string(doc.usage)},
                            {"summary", json_string(doc.summary)}}));
  return object({{"commands", array(items)}}) + "\n";
}

std::string tick_text(const price_update& x) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%s  %-8s %12.4f  vol %-8lld seq %llu%s\n",
                clock_time(x.ts).c_str(), x.ticker.c_str(), x.price,
                static_cast<long long>(x.volume),
                static_cast<unsigned long long>(x.seq), x.gap ? "  (gap)" : "");
  return buf;
}

std::string tick_json(const price_update& x) {
  return update_json(x) + "\n";
}

std::string error_json(const std::string& what) {
  return object({{"error", json_string(what)}}) + "\n";
}

} // namespace mm::shell

#include "bench/report.hpp"

#include <unistd.h>

#include <cstdlib>

#include "bench/clock.hpp"

namespace mm::bench {

namespace {

std::string self_dir() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return ".";
  std::string path{buf, static_cast<size_t>(n)};
  return path.substr(0, path.rfind('/'));
}

/// The number under `"key":` in a flat JSON object, or -1.
long long json_number(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\"");
  if (pos == std::string::npos)
    return -1;
  pos = json.find(':', pos);
  if (pos == std::string::npos)
    return -1;
  return std::strtoll(json.c_str() + pos + 1, nullptr, 10);
}

bool stats_idle(const std::string& json) {
  return json_number(json, "sessions") == 0 && json_number(json, "streams") == 0
         && json_number(json, "broadcasters") == 0;
}

} // namespace

/// The node's `stats` as JSON text through `mm-shell`, or nothing when there
/// is no admin endpoint, no shell beside us, or no answer within 10 s.
std::optional<std::string> admin_stats(const options& opts) {
  if (opts.admin.host.empty())
    return std::nullopt;
  auto shell = self_dir() + "/mm-shell";
  if (access(shell.c_str(), X_OK) != 0)
    return std::nullopt;
  auto cmd = "timeout 10 '" + shell + "' --connect '" + opts.admin.to_string()
             + "' -c stats --json 2>/dev/null";
  auto* p = popen(cmd.c_str(), "r");
  if (p == nullptr)
    return std::nullopt;
  std::string out;
  char buf[4096];
  while (auto n = fread(buf, 1, sizeof(buf), p))
    out.append(buf, n);
  if (pclose(p) != 0)
    return std::nullopt;
  auto first = out.find('{');
  auto last = out.rfind('}');
  if (first == std::string::npos || last == std::string::npos)
    return std::nullopt;
  return out.substr(first, last - first + 1);
}

/// Waits until the node reports idle (with an admin endpoint) or for the
/// whole `seconds` (without); returns "true", "false" or "unknown" and the
/// last stats seen.
std::pair<std::string, std::string> wait_idle(const options& opts,
                                              double seconds) {
  auto t0 = mono_ns();
  auto deadline = t0 + static_cast<int64_t>(seconds * 1e9);
  // A node ending tens of thousands of sessions may not answer the first
  // `stats` within mm-shell's 10 s: ask again until the deadline.
  auto stats = admin_stats(opts);
  while (!stats && mono_ns() < deadline) {
    sleep_for_ms(500);
    stats = admin_stats(opts);
  }
  if (!stats)
    return {"unknown", ""};
  while (!stats_idle(*stats) && mono_ns() < deadline) {
    sleep_for_ms(500);
    if (auto next = admin_stats(opts))
      stats = std::move(next);
  }
  return {stats_idle(*stats) ? "true" : "false", *stats};
}

double mb(uint64_t bytes) {
  return std::round(static_cast<double>(bytes) / 1048576.0 * 10) / 10;
}

double ms(int64_t ns) {
  return std::round(static_cast<double>(ns) / 1e3) / 1e3;
}

std::string format_counts(const std::map<std::string, uint64_t>& xs) {
  if (xs.empty())
    return "none";
  std::string out;
  for (const auto& [k, v] : xs)
    out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return out;
}

} // namespace mm::bench

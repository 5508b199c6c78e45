#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "actors/health.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "service/process_stats.hpp"

namespace mm {

/// Writes the Prometheus text exposition format (version 0.0.4): one
/// `# HELP` and `# TYPE` per family, then its samples.
class prometheus_text {
public:
  using labels = std::vector<std::pair<std::string, std::string>>;

  /// Starts a family; `type` is "counter", "gauge" or "histogram".
  void family(const std::string& name, const char* type,
              const std::string& help);

  void sample(const std::string& name, const labels& ls, double value);
  void sample(const std::string& name, const labels& ls, uint64_t value);
  void sample(const std::string& name, double value) {
    sample(name, {}, value);
  }
  void sample(const std::string& name, uint64_t value) {
    sample(name, {}, value);
  }

  /// The samples of histogram `name` (a family of its own) from `h`, whose
  /// whole units make `per_base` of the base unit (1e9 for ns -> seconds).
  template <size_t N>
  void histogram_samples(const std::string& name, const histogram<N>& h,
                         double per_base) {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;
    for (size_t i = 0; i < N; ++i)
      bounds.push_back(static_cast<double>(h.bounds[i]) / per_base);
    for (auto& x : h.counts)
      counts.push_back(x.load(std::memory_order_relaxed));
    auto sum = h.sum.load(std::memory_order_relaxed);
    histogram_samples(name, bounds, counts,
                      static_cast<double>(sum) / per_base);
  }

  /// Cumulative buckets, _sum and _count from per-slot `counts` (one more
  /// than `bounds`: the last is +Inf).
  void histogram_samples(const std::string& name,
                         const std::vector<double>& bounds,
                         const std::vector<uint64_t>& counts, double sum);

  const std::string& str() const {
    return out_;
  }

  /// A number as the format writes it (shortest exact form, +Inf, NaN).
  static std::string number(double x);

  /// Escapes a label value (backslash, double quote, newline).
  static std::string escape(const std::string& x);

private:
  void start_sample(const std::string& name, const labels& ls);

  std::string out_;
};

/// Everything the node exports, in the text format: the counters of `m`,
/// health, `actors_running` and the process' own figures.
std::string render_metrics(const metrics& m, const node_config& cfg,
                           const health_status& health, uint64_t actors_running,
                           const process_stats& proc);

} // namespace mm

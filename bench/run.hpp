#pragma once

// mm-bench's run: sets up the population, measures, ends it, runs the churn
// and writes the report.

#include "bench/options.hpp"

namespace mm::bench {

/// Runs the benchmark `opts` describes; returns the process exit status.
int run(const options& opts);

} // namespace mm::bench

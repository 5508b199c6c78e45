#pragma once

#include <csignal>

namespace mm {
struct ceiling_options;
} // namespace mm

namespace mm::bench {

/// Serves the plain-gRPC ceiling (bench/ceiling.cpp) as `opts` say until one
/// of `signals`, which the caller has blocked in every thread, arrives;
/// returns the process's exit status.
int serve_ceiling(const ceiling_options& opts, const sigset_t& signals);

} // namespace mm::bench

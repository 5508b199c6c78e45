#pragma once

namespace mm {

/// Turns off abseil's mutex deadlock detector for the whole process. Debian
/// builds abseil (and gRPC) without NDEBUG, which leaves the detector on: it
/// updates one process-wide lock graph, under a global lock, on every mutex
/// gRPC takes. Release builds of abseil run without it; so do we, unless
/// the environment has MM_ABSL_DEADLOCK_DETECTION=1 (to hunt a deadlock in
/// gRPC). Call it first thing in main, before any thread exists.
void disable_mutex_deadlock_detection();

} // namespace mm

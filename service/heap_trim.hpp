#pragma once

#include <chrono>
#include <cstdint>

namespace mm {

/// Whether handing freed heap back to the OS (malloc_trim) is worth it for a
/// process of `resident_bytes` RSS with `heap_in_use_bytes` allocated: when
/// the memory resident beyond what is in use is at least 8 MiB and a quarter
/// of what is in use. glibc's malloc_trim walks every free chunk of every
/// arena, each arena under its lock: at 50,000 sessions one took 2.1 s after
/// the set-up and 0.28 s ten seconds later (docs/benchmarks.md, "Trimming
/// the heap only when it pays"), stalling every thread that allocated
/// meanwhile, to give back little. After sessions end (churn, a client pool
/// gone), in-use memory falls below RSS and the trim runs.
bool worth_trimming(uint64_t resident_bytes, uint64_t heap_in_use_bytes);

/// Every `interval`, trims the heap if worth_trimming says so. Runs forever:
/// start it on a thread of its own.
[[noreturn]] void trim_heap_every(std::chrono::milliseconds interval);

} // namespace mm

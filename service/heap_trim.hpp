#pragma once

#include <chrono>
#include <cstdint>

namespace mm {

/// Whether handing freed heap back to the OS (malloc_trim) is worth it for a
/// process of `resident_bytes` RSS with `heap_in_use_bytes` allocated: when
/// the memory resident beyond what is in use is at least 8 MiB and a quarter
/// of what is in use. glibc keeps memory freed by ended sessions in its
/// per-thread arenas instead of returning it; trimming keeps RSS close to
/// live memory, so that a leak shows and an operator's graph stays flat
/// (docs/guarantees.md, "Memory after churn"). But malloc_trim walks every
/// free chunk of every arena, each arena under its lock: on a large, busy
/// heap it stalls every thread that allocates meanwhile, for seconds, to
/// give back little (docs/benchmarks.md, "Trimming the heap only when it
/// pays"). After sessions end, in-use memory falls below RSS and it runs.
bool worth_trimming(uint64_t resident_bytes, uint64_t heap_in_use_bytes);

/// Every `interval`, trims the heap if worth_trimming says so. Runs forever:
/// start it on a thread of its own.
[[noreturn]] void trim_heap_every(std::chrono::milliseconds interval);

} // namespace mm

#include "service/heap_trim.hpp"

#include <algorithm>
#include <thread>

#include <malloc.h>

#include "logging/log.hpp"
#include "service/process_stats.hpp"

namespace mm {

bool worth_trimming(uint64_t resident_bytes, uint64_t heap_in_use_bytes) {
  if (resident_bytes <= heap_in_use_bytes)
    return false;
  auto slack = resident_bytes - heap_in_use_bytes;
  return slack >= std::max<uint64_t>(uint64_t{8} << 20, heap_in_use_bytes / 4);
}

void trim_heap_every(std::chrono::milliseconds interval) {
  for (;;) {
    std::this_thread::sleep_for(interval);
    auto heap = mallinfo2();
    auto rss = read_process_stats().resident_bytes;
    auto in_use = static_cast<uint64_t>(heap.uordblks + heap.hblkhd);
    if (!worth_trimming(rss, in_use)) {
      log::debug("heap", "not trimmed",
                 {{"rss_bytes", rss}, {"in_use_bytes", in_use}});
      continue;
    }
    malloc_trim(0);
    log::debug("heap", "trimmed",
               {{"rss_bytes", rss},
                {"in_use_bytes", in_use},
                {"rss_after_bytes", read_process_stats().resident_bytes}});
  }
}

} // namespace mm

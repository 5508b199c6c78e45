#include "service/process_stats.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace mm {

namespace {

/// Seconds since the epoch at which the machine booted (/proc/stat btime).
uint64_t boot_time() {
  std::ifstream in{"/proc/stat"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("btime ", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

uint64_t count_fds() {
  auto* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  uint64_t n = 0;
  while (auto* entry = readdir(dir))
    if (entry->d_name[0] != '.')
      ++n;
  closedir(dir);
  // Not the descriptor of the directory we just read.
  return n > 0 ? n - 1 : 0;
}

} // namespace

process_stats read_process_stats() {
  process_stats x;
  auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream in{"/proc/self/stat"};
  std::string stat;
  std::getline(in, stat);
  // The command name (field 2) may hold blanks: fields count from its ')'.
  auto close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0) {
    std::istringstream fields{stat.substr(close + 2)};
    std::string f[22];
    for (auto& field : f)
      fields >> field;
    // f[0] is field 3 (state): utime 14, stime 15, num_threads 20,
    // starttime 22, vsize 23, rss 24.
    x.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    x.threads = std::stoull(f[17]);
    x.start_time_seconds = static_cast<double>(boot_time())
                           + std::stod(f[19]) / ticks;
    x.virtual_bytes = std::stoull(f[20]);
    x.resident_bytes = std::stoull(f[21]) * page;
  }
  x.open_fds = count_fds();
  rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    x.max_fds = lim.rlim_cur;
  return x;
}

} // namespace mm

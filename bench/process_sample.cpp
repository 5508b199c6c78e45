#include "bench/process_sample.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace mm::bench {

process_sample sample_process(pid_t pid) {
  process_sample result;
  auto dir = "/proc/" + std::to_string(pid);
  std::ifstream stat{dir + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return result;
  // The command name may hold blanks and parentheses: fields count from the
  // last ')'. utime and stime are fields 14 and 15 of proc(5).
  auto paren = line.rfind(')');
  if (paren == std::string::npos)
    return result;
  std::istringstream fields{line.substr(paren + 2)};
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::strtoull(field.c_str(), nullptr, 10);
    else if (i == 15)
      stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  result.cpu_seconds = static_cast<double>(utime + stime)
                       / static_cast<double>(ticks > 0 ? ticks : 100);
  std::ifstream status{dir + "/status"};
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      result.rss_bytes = std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    else if (line.rfind("Threads:", 0) == 0)
      result.threads = std::atoi(line.c_str() + 8);
  }
  if (auto* d = opendir((dir + "/fd").c_str())) {
    while (auto* entry = readdir(d))
      if (entry->d_name[0] != '.')
        ++result.fds;
    closedir(d);
  }
  result.ok = true;
  return result;
}

} // namespace mm::bench

#include "app/absl_mode.hpp"

#include <cstdlib>

#include <absl/synchronization/mutex.h>

namespace mm {

void disable_mutex_deadlock_detection() {
  if (const char* keep = std::getenv("MM_ABSL_DEADLOCK_DETECTION");
      keep != nullptr && keep[0] == '1')
    return;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

} // namespace mm

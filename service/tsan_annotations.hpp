#pragma once

// Happens-before edges for ThreadSanitizer that gRPC creates through its own
// synchronisation, which TSan does not see (Debian's gRPC and abseil are not
// instrumented). Each caller says which edge it marks. They compile to
// nothing in other builds.

#if defined(__SANITIZE_THREAD__)
#  define MM_TSAN_ANNOTATIONS 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MM_TSAN_ANNOTATIONS 1
#  endif
#endif

#ifdef MM_TSAN_ANNOTATIONS
#  include <sanitizer/tsan_interface.h>
#endif

namespace mm {

/// Everything this thread did so far happens before a later `tsan_acquire`
/// of the same address.
inline void tsan_release([[maybe_unused]] const void* sync) {
#ifdef MM_TSAN_ANNOTATIONS
  __tsan_release(const_cast<void*>(sync));
#endif
}

/// See `tsan_release`.
inline void tsan_acquire([[maybe_unused]] const void* sync) {
#ifdef MM_TSAN_ANNOTATIONS
  __tsan_acquire(const_cast<void*>(sync));
#endif
}

} // namespace mm

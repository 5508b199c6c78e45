#pragma once

// SIGINT and SIGTERM in mm-shell: only the main thread takes them, and the
// handler only sets flags and wakes the main thread through a pipe, so a
// prompt (read) or a `watch` (poll) returns.

#include <atomic>
#include <string>

namespace mm::shell {

/// Set by SIGINT (Ctrl-C): the current prompt or `watch` ends.
extern std::atomic<bool> interrupted;

/// Set by SIGTERM: the shell ends.
extern std::atomic<bool> terminated;

/// While false, a signal ends the process at once (e.g. a slow request).
extern std::atomic<bool> interruptible;

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts
/// later (CAF's), and ignores SIGPIPE. Call first.
void block_signals();

/// Makes the wake pipe; returns an empty string or what went wrong.
std::string make_wake_pipe();

/// Installs the handler and unblocks the signals in this thread.
void catch_signals();

/// Wakes `wait_for_wake` (from any thread).
void wake();

/// Waits until `wake` or a signal.
void wait_for_wake();

/// Forgets the wakes so far.
void drain_wakes();

} // namespace mm::shell

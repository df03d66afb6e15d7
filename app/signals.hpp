#pragma once
// SIGTERM/SIGINT for the long-running commands. CAF installs no handlers;
// the signals are blocked before any thread starts (all threads inherit the
// mask) and taken synchronously with sigtimedwait by the main thread.

#include <chrono>
#include <csignal>

namespace wcoord {

/// Blocks SIGINT and SIGTERM in the calling thread and its future children.
void block_termination_signals();

/// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal or 0.
int wait_for_termination(std::chrono::milliseconds timeout);

/// After the first signal: a second one ends the process at once (exit 130).
void exit_on_second_signal();

} // namespace wcoord

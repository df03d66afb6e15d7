#pragma once
// Bounds the work in flight between a producing thread and the actors:
// `acquire` blocks the (non-actor) producer when the window is full,
// `release` is called by the sink as answers leave. This is what keeps
// memory flat however long the input is.

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace wcoord {

class credit_gate {
public:
  explicit credit_gate(size_t window) : available_(window), window_(window) {
    // nop
  }

  void acquire() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return available_ > 0; });
    --available_;
  }

  void release(size_t n) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      available_ += n;
    }
    cv_.notify_all();
  }

  /// Blocks until every acquired credit came back.
  void wait_idle() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return available_ == window_; });
  }

  size_t in_flight() {
    std::lock_guard<std::mutex> guard{mtx_};
    return window_ - available_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  size_t available_;
  const size_t window_;
};

} // namespace wcoord

#pragma once
// Wakes a thread that waits for librdkafka queues the moment one of them
// receives something, instead of after a polling interval: librdkafka
// writes to an eventfd when a watched queue goes from empty to non-empty.

#include <chrono>

#include <librdkafka/rdkafka.h>

namespace wcoord::kafka {

class queue_wakeup {
public:
  queue_wakeup();
  ~queue_wakeup();
  queue_wakeup(const queue_wakeup&) = delete;
  queue_wakeup& operator=(const queue_wakeup&) = delete;

  /// Signals when `q` goes from empty to non-empty. `q` must be a final
  /// destination (not forwarded), and must stop being watched (or be
  /// destroyed) before this object is.
  void watch(rd_kafka_queue_t* q);
  void unwatch(rd_kafka_queue_t* q);

  /// Forgets past signals: call before looking into the queues, so that
  /// whatever arrives after the look signals wait().
  void clear();

  /// Returns when a watched queue received something since clear(), or
  /// after `timeout`.
  void wait(std::chrono::milliseconds timeout);

private:
  int fd_ = -1;
};

} // namespace wcoord::kafka

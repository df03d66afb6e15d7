#pragma once
// What processing.guarantee=exactly_once shares between the consumer and the
// publisher (contract §3): outputs and input offsets commit in one Kafka
// transaction (send_offsets_to_transaction with the consumer's group
// metadata, so a zombie with an old group generation is fenced).

#include <chrono>
#include <future>
#include <memory>
#include <mutex>

#include "kafka/handles.hpp"
#include "kafka/offset_tracker.hpp"

namespace wcoord::kafka {

class transaction_context {
public:
  /// Records whose effects reached the publisher: its committable offsets
  /// bound what a transaction may commit.
  const std::shared_ptr<offset_tracker> published = std::make_shared<offset_tracker>();

  /// Captures the consumer's current group metadata (after every rebalance).
  void update_group_metadata(rd_kafka_t* consumer) {
    std::shared_ptr<rd_kafka_consumer_group_metadata_t> md{
      rd_kafka_consumer_group_metadata(consumer), rd_kafka_consumer_group_metadata_destroy};
    std::lock_guard<std::mutex> g{mtx_};
    metadata_ = std::move(md);
  }

  std::shared_ptr<rd_kafka_consumer_group_metadata_t> group_metadata() const {
    std::lock_guard<std::mutex> g{mtx_};
    return metadata_;
  }

  /// Set by the publisher once init_transactions() returned: by then the
  /// previous incarnation's transaction (same transactional.id) is fenced
  /// and completed. The consumer waits for it before joining the group, or
  /// its changelog restore could miss a transaction still being completed.
  void initialized() { ready_.set_value(); }
  bool wait_initialized(std::chrono::milliseconds timeout) {
    return ready_future_.wait_for(timeout) == std::future_status::ready;
  }

private:
  std::promise<void> ready_;
  std::shared_future<void> ready_future_ = ready_.get_future().share();
  mutable std::mutex mtx_;
  std::shared_ptr<rd_kafka_consumer_group_metadata_t> metadata_;
};

} // namespace wcoord::kafka

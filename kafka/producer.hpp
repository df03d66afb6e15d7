#pragma once
// An idempotent librdkafka producer with its own poll thread. Delivery
// reports are handed to a callback on that thread; the callers turn them
// into actor messages.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kafka/handles.hpp"

namespace wcoord::kafka {

struct delivery {
  uint64_t id;
  rd_kafka_resp_err_t error;
  int32_t partition;
  int64_t offset;
};

struct outgoing_record {
  std::string topic;
  int32_t partition = RD_KAFKA_PARTITION_UA; // UA: partition by key
  std::optional<std::string_view> key;
  std::string_view value;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t id = 0; // echoed in the delivery report
};

class producer {
public:
  /// Receives the reports served by one poll together (one actor message
  /// per batch instead of one per record).
  using delivery_handler = std::function<void(std::vector<delivery>&&)>;

  /// `props`: librdkafka properties (bootstrap.servers, kafka.* passthrough).
  /// Forces enable.idempotence=true and acks=all after the user's values.
  producer(std::map<std::string, std::string> props, delivery_handler on_delivery);
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Enqueues a record; blocks (polling) while librdkafka's queue is full.
  /// Returns the error for records that can never be sent (too large, ...).
  rd_kafka_resp_err_t send(const outgoing_record& r);

  /// Waits until every enqueued record has its delivery report.
  bool flush(std::chrono::milliseconds timeout);

  rd_kafka_t* handle() const { return rk_.get(); }
  /// Records enqueued and not yet reported.
  int outstanding() const { return rd_kafka_outq_len(rk_.get()); }

private:
  /// Hands the reports collected by the last poll or flush to the handler.
  void dispatch_reports();

  delivery_handler on_delivery_;
  std::mutex reports_mtx_;
  std::vector<delivery> reports_; // filled by dr_msg_cb on the polling thread
  client_ptr rk_;
  std::atomic<bool> running_{true};
  std::thread poller_;
};

} // namespace wcoord::kafka

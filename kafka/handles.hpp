#pragma once
// RAII for librdkafka's C objects. Destruction order matters to librdkafka
// (INTRODUCTION.md § Termination: messages, partition lists and queues must
// be freed before the handle), so owners declare handles first and the
// objects that depend on them after.

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace wcoord::kafka {

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
  void operator()(const rd_kafka_metadata_t* m) const {
    rd_kafka_metadata_destroy(m);
  }
};

using client_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, handle_deleter>;
using partition_list_ptr
  = std::unique_ptr<rd_kafka_topic_partition_list_t, handle_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, handle_deleter>;
using error_ptr = std::unique_ptr<rd_kafka_error_t, handle_deleter>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, handle_deleter>;
using event_ptr = std::unique_ptr<rd_kafka_event_t, handle_deleter>;
using metadata_ptr = std::unique_ptr<const rd_kafka_metadata_t, handle_deleter>;

/// Builds a configuration from properties; the error names the property.
/// Values of secret properties never appear in the error.
conf_ptr make_conf(const std::map<std::string, std::string>& props,
                   std::string& error);

/// A client of `type` configured from `props`, or null with `error` set
/// (naming the property, or the reason librdkafka refused).
client_ptr make_client(rd_kafka_type_t type,
                       const std::map<std::string, std::string>& props,
                       std::string& error);

/// Routes librdkafka's log lines (any thread) into the "kafka" logger.
void route_logs(rd_kafka_conf_t* conf);

} // namespace wcoord::kafka

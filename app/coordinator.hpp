#pragma once
// The service assembled: (embedded) Kafka, the store, the actor pipeline
// with its publisher, and the consumer. Used by `wcoord run` and
// `wcoord demo`; owns the start-up and shutdown order.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "actors/engine_counters.hpp"
#include "actors/pipeline.hpp"
#include "app/service_config.hpp"
#include "app/service_metrics.hpp"
#include "kafka/consumer_actor.hpp"
#include "kafka/embedded_cluster.hpp"
#include "kafka/group_health.hpp"
#include "kafka/offset_tracker.hpp"
#include "kafka/output_counters.hpp"

namespace wcoord {

class coordinator {
public:
  explicit coordinator(service_config cfg);
  ~coordinator();

  /// Starts everything; returns an error message instead on failure.
  std::optional<std::string> start();

  /// Stops fetching, finishes in-flight work, commits, leaves the group and
  /// flushes the outputs. True when everything finished within the bound.
  bool drain();

  /// Called periodically by the service's main loop: when the group has
  /// left partitions without an owner for too long, this instance leaves
  /// and rejoins it (see kafka/consumer_actor.cpp, rejoin()).
  void supervise();

  const service_config& config() const { return cfg_; }
  /// The address clients use (the embedded cluster's, if any).
  std::string bootstrap_servers() const;
  bool embedded() const { return embedded_ != nullptr; }
  kafka::embedded_cluster* embedded_cluster() { return embedded_.get(); }

  const kafka::consumer_status& status() const { return *status_; }
  const kafka::offset_tracker& tracker() const { return *tracker_; }
  const decision_counters& decisions() const { return *decisions_; }
  const kafka::output_counters& outputs() const { return *outputs_; }
  const engine_counters& engine() const { return *engine_->counters(); }
  /// The group's health as the brokers see it (kafka/group_health.hpp).
  const kafka::group_health_status& group_health() const { return *health_status_; }
  /// Store size, refreshed at most every few seconds (asked of the store
  /// actor, so a scrape never touches RocksDB from a foreign thread).
  wcoord::store_stats current_store_stats() const;
  /// A document's durable state (the /v1/docs endpoint); nullopt when the
  /// store did not answer within `timeout` (the caller answers 503).
  std::optional<std::optional<stored_document>>
  read_document(const document_key& key, std::chrono::milliseconds timeout) const;

  service_metrics& metrics() { return *metrics_; }

private:
  std::map<std::string, std::string> client_props() const;
  std::string transactional_id() const;

  service_config cfg_;
  std::unique_ptr<kafka::embedded_cluster> embedded_;
  std::shared_ptr<document_store> store_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<kafka::offset_tracker> tracker_
    = std::make_shared<kafka::offset_tracker>();
  std::shared_ptr<kafka::consumer_status> status_
    = std::make_shared<kafka::consumer_status>();
  std::shared_ptr<decision_counters> decisions_
    = std::make_shared<decision_counters>();
  std::shared_ptr<kafka::output_counters> outputs_
    = std::make_shared<kafka::output_counters>();
  std::unique_ptr<pipeline> engine_;
  caf::actor consumer_;
  bool drained_ = false;
  std::chrono::steady_clock::time_point next_rejoin_{};
  std::unique_ptr<service_metrics> metrics_;
  std::shared_ptr<kafka::group_health_status> health_status_
    = std::make_shared<kafka::group_health_status>();
  std::unique_ptr<kafka::group_health> health_;
  mutable std::mutex stats_mtx_;
  mutable wcoord::store_stats stats_cache_;
  mutable std::chrono::steady_clock::time_point stats_time_;
};

} // namespace wcoord

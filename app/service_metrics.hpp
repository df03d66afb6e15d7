#pragma once
// Every metric of contract §6 in one place. Counters and gauges are read
// from the service's atomics when Prometheus scrapes (nothing on the hot
// path); latency histograms are observed as effects complete.

#include <memory>
#include <string>

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace wcoord {

class coordinator;
struct effect;

class service_metrics {
public:
  explicit service_metrics(const coordinator& c);

  /// Called by the pipeline's sink for each durable, non-replayed effect.
  void observe_done(const effect& e);
  void observe_commit(double seconds);

  /// The Prometheus text exposition of everything.
  std::string scrape();

private:
  const coordinator& c_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram* decision_latency_;
  prometheus::Histogram* end_to_end_latency_;
  prometheus::Histogram* commit_latency_;
  std::shared_ptr<prometheus::Collectable> snapshot_;
};

} // namespace wcoord

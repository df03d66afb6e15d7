#include "app/service_metrics.hpp"

#include <chrono>

#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include "actors/messages.hpp"
#include "app/coordinator.hpp"

namespace wcoord {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

/// Reads the service's state at scrape time.
class snapshot_collector final : public prometheus::Collectable {
public:
  explicit snapshot_collector(const coordinator& c) : c_(c) {
    // nop
  }

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    const auto& cfg = c_.config();
    const auto& status = c_.status();

    // Lag in the family kafka_exporter dashboards (e.g. Grafana 7589) chart.
    auto lag = family("kafka_consumergroup_lag",
                      "Records in the partition after the group's committed offset",
                      MetricType::Gauge);
    auto lag_sum = family("kafka_consumergroup_lag_sum",
                          "Sum of kafka_consumergroup_lag over this instance's partitions",
                          MetricType::Gauge);
    auto lag_seconds = family("wcoord_consumer_lag_seconds",
                              "Now minus the timestamp of the oldest unfinished record",
                              MetricType::Gauge);
    auto restore = family("wcoord_restore_progress_ratio",
                          "Share of the changelog restored for an assigned partition (1 = done)",
                          MetricType::Gauge);
    std::map<std::string, double> sums;
    auto views = status.partitions();
    auto progress = c_.tracker().all();
    const double now_ms = std::chrono::duration<double, std::milli>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (auto& [tp, v] : views) {
      std::vector<ClientMetric::Label> labels{{"consumergroup", cfg.group_id},
                                              {"topic", tp.topic},
                                              {"partition", std::to_string(tp.partition)}};
      if (v.high_watermark >= 0) {
        int64_t base = v.committed >= 0 ? v.committed : std::max<int64_t>(0, v.low_watermark);
        double n = static_cast<double>(std::max<int64_t>(0, v.high_watermark - base));
        add(lag, n, labels);
        sums[tp.topic] += n;
      }
      add(restore, v.restore_ratio, {labels[1], labels[2]});
    }
    for (auto& [tp, p] : progress) {
      double secs = p.oldest_timestamp ? std::max(0.0, (now_ms - *p.oldest_timestamp) / 1000)
                                       : 0.0;
      add(lag_seconds, secs, {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
    }
    for (auto& [topic, n] : sums)
      add(lag_sum, n, {{"consumergroup", cfg.group_id}, {"topic", topic}});
    out.push_back(std::move(lag));
    out.push_back(std::move(lag_sum));
    out.push_back(std::move(lag_seconds));
    out.push_back(std::move(restore));

    auto decisions = family("wcoord_mutations_total",
                            "Decided mutations by outcome and version type",
                            MetricType::Counter);
    static const char* outcomes[] = {"applied", "stale", "conflict", "invalid"};
    static const char* types[] = {"internal", "external", "external_gte"};
    for (size_t o = 0; o < 4; ++o)
      for (size_t t = 0; t < 3; ++t)
        add(decisions,
            static_cast<double>(
              c_.decisions().by_outcome_and_type[o][t].load(std::memory_order_relaxed)),
            {{"outcome", outcomes[o]}, {"version_type", types[t]}});
    out.push_back(std::move(decisions));

    const auto& outputs = c_.outputs();
    auto simple = [&](const char* name, const char* help, MetricType type, double v) {
      auto f = family(name, help, type);
      add(f, v);
      out.push_back(std::move(f));
    };
    simple("wcoord_dlq_produced_total", "Records delivered to the dead-letter topic",
           MetricType::Counter, static_cast<double>(outputs.dlq_produced.load()));
    simple("wcoord_dlq_produce_failures_total",
           "Dead-letter records that could not be delivered (fatal)", MetricType::Counter,
           static_cast<double>(outputs.dlq_failures.load()));
    simple("wcoord_changelog_produced_total", "Records delivered to the changelog topic",
           MetricType::Counter, static_cast<double>(outputs.changelog_produced.load()));
    simple("wcoord_replayed_records_total",
           "Records skipped because the store had already decided them (replay after a crash)",
           MetricType::Counter, static_cast<double>(outputs.replays_skipped.load()));
    simple("wcoord_active_document_actors", "Live per-document actors", MetricType::Gauge,
           static_cast<double>(c_.engine().active_document_actors.load()));
    simple("wcoord_passivations_total", "Document actors stopped (idle or over the cap)",
           MetricType::Counter, static_cast<double>(c_.engine().passivations.load()));
    simple("wcoord_activations_total", "Document actors started", MetricType::Counter,
           static_cast<double>(c_.engine().activations.load()));
    simple("wcoord_rebalances_total", "Partition assignments and revocations",
           MetricType::Counter, static_cast<double>(status.rebalances.load()));
    simple("wcoord_assigned_partitions", "Input partitions owned by this instance",
           MetricType::Gauge, static_cast<double>(status.assigned_partitions.load()));
    simple("wcoord_ready", "1 when assigned partitions are restored and consumed",
           MetricType::Gauge, status.ready.load() ? 1.0 : 0.0);
    simple("wcoord_records_consumed_total", "Records taken from the mutation topics",
           MetricType::Counter, static_cast<double>(status.records.load()));
    simple("wcoord_tombstones_skipped_total",
           "Kafka tombstones (null values) skipped on input.format=debezium topics: the "
           "delete event before each one decides",
           MetricType::Counter, static_cast<double>(status.tombstones_skipped.load()));
    simple("wcoord_commit_failures_total", "Offset commits the broker refused",
           MetricType::Counter, static_cast<double>(status.commit_failures.load()));
    simple("wcoord_restored_records_total", "Changelog records applied while restoring",
           MetricType::Counter, static_cast<double>(status.restored_records.load()));
    simple("wcoord_transactions_committed_total",
           "Exactly once: transactions committed (outputs with their input offsets)",
           MetricType::Counter, static_cast<double>(outputs.transactions_committed.load()));
    simple("wcoord_transactions_aborted_total",
           "Exactly once: transactions aborted (a group generation change, an output the "
           "broker refused); their records are decided again",
           MetricType::Counter, static_cast<double>(outputs.transactions_aborted.load()));
    simple("wcoord_rewinds_total",
           "Exactly once: rewinds to the committed offsets after an abort or an undrained "
           "revocation",
           MetricType::Counter, static_cast<double>(status.rewinds.load()));
    simple("wcoord_group_rejoins_total",
           "Times this instance left and rejoined the group because partitions had no owner",
           MetricType::Counter, static_cast<double>(status.forced_rejoins.load()));
    simple("wcoord_kafka_brokers_up",
           "Brokers the consumer is connected to (0: the cluster is unreachable; -1: not known "
           "yet)",
           MetricType::Gauge, static_cast<double>(status.brokers_up.load()));
    // The group as the brokers see it (kafka/group_health.hpp), as of the
    // last probe; the same on every instance.
    const auto& health = c_.group_health();
    std::vector<ClientMetric::Label> group{{"consumergroup", cfg.group_id}};
    auto unowned = family("wcoord_group_unowned_partitions",
                          "Partitions of the subscribed topics that no member of the group owns",
                          MetricType::Gauge);
    add(unowned, static_cast<double>(health.unowned_partitions.load()), group);
    out.push_back(std::move(unowned));
    auto commit_age = family("wcoord_group_oldest_commit_age_seconds",
                             "Longest time a partition's committed offset has not moved while "
                             "records wait after it",
                             MetricType::Gauge);
    add(commit_age, health.oldest_commit_age_seconds.load(), group);
    out.push_back(std::move(commit_age));
    auto state = family("wcoord_group_state",
                        "1 for the consumer group's state at the last probe",
                        MetricType::Gauge);
    const int current = health.state.load();
    for (int s = 0; s < kafka::group_state_count; ++s)
      add(state, s == current ? 1.0 : 0.0,
          {group[0], {"state", kafka::group_state_name(static_cast<kafka::group_state>(s))}});
    out.push_back(std::move(state));
    auto probe_errors = family("wcoord_group_health_probe_errors_total",
                               "Group health probes that failed (the group metrics keep their "
                               "last values)",
                               MetricType::Counter);
    add(probe_errors, static_cast<double>(health.probe_errors.load()), group);
    out.push_back(std::move(probe_errors));
    auto probes = family("wcoord_group_health_probes_total",
                         "Group health probes that succeeded (flat: the group metrics are stale)",
                         MetricType::Counter);
    add(probes, static_cast<double>(health.probes.load()), group);
    out.push_back(std::move(probes));

    auto stats = c_.current_store_stats();
    simple("wcoord_store_size_bytes", "Bytes of the embedded store (SST files and memtables)",
           MetricType::Gauge, static_cast<double>(stats.bytes));
    simple("wcoord_store_documents", "Estimated documents and tombstones in the store",
           MetricType::Gauge, static_cast<double>(stats.documents));
    return out;
  }

private:
  const coordinator& c_;
};

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return b;
}

} // namespace

service_metrics::service_metrics(const coordinator& c)
  : c_(c), registry_(std::make_shared<prometheus::Registry>()) {
  decision_latency_ =
    &prometheus::BuildHistogram()
       .Name("wcoord_decision_latency_seconds")
       .Help("From taking a record off Kafka to its decision being durable")
       .Register(*registry_)
       .Add({}, latency_buckets());
  end_to_end_latency_ =
    &prometheus::BuildHistogram()
       .Name("wcoord_end_to_end_latency_seconds")
       .Help("From the record's timestamp (producer time) to its decision being durable")
       .Register(*registry_)
       .Add({}, latency_buckets());
  commit_latency_ = &prometheus::BuildHistogram()
                       .Name("wcoord_commit_latency_seconds")
                       .Help("Round trip of an offset commit")
                       .Register(*registry_)
                       .Add({}, latency_buckets());
  snapshot_ = std::make_shared<snapshot_collector>(c);
}

void service_metrics::observe_done(const effect& e) {
  if (!e.work->from_kafka)
    return;
  using namespace std::chrono;
  auto now = steady_clock::now().time_since_epoch();
  decision_latency_->Observe(
    static_cast<double>(duration_cast<nanoseconds>(now).count() - e.work->entered_ns) / 1e9);
  double wall_ms = duration<double, std::milli>(system_clock::now().time_since_epoch()).count();
  if (e.work->origin.timestamp > 0)
    end_to_end_latency_->Observe(std::max(0.0, (wall_ms - e.work->origin.timestamp) / 1000));
}

void service_metrics::observe_commit(double seconds) {
  commit_latency_->Observe(seconds);
}

std::string service_metrics::scrape() {
  auto families = registry_->Collect();
  auto snapshot = snapshot_->Collect();
  families.insert(families.end(), snapshot.begin(), snapshot.end());
  return prometheus::TextSerializer{}.Serialize(families);
}

} // namespace wcoord

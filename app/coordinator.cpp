#include "app/coordinator.hpp"

#include <caf/actor_registry.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "app/actor_system_setup.hpp"
#include "kafka/publisher_actor.hpp"
#include "kafka/topics.hpp"
#include "kafka/transaction_context.hpp"
#include "support/logging.hpp"

namespace wcoord {

coordinator::coordinator(service_config cfg) : cfg_(std::move(cfg)) {
  // A config built in code (the demo) rather than by load_config.
  if (cfg_.max_inflight == 0)
    cfg_.max_inflight = inflight_default(cfg_.processing_guarantee);
}

coordinator::~coordinator() {
  health_.reset();
  if (!drained_ && consumer_)
    drain();
  // The teardown after the durable point, timed in the log: with hundreds of
  // thousands of live document actors it must take seconds (issue 8).
  const auto started = std::chrono::steady_clock::now();
  // Document actors passivated by the revocation that closing triggered
  // may still be on their way out: count what runs, not what is live.
  const size_t actors = sys_ ? sys_->registry().running() : 0;
  const bool running = sys_ != nullptr;
  if (engine_)
    engine_->stop();
  consumer_ = nullptr;
  engine_.reset();
  sys_.reset(); // waits for every actor: the publisher flushes on its way out
  if (running)
    module_logger("app")->info(
      "torn down in {} ms ({} actors were running)",
      std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started)
        .count(),
      actors);
}

std::string coordinator::bootstrap_servers() const {
  return embedded_ ? embedded_->bootstrap_servers() : cfg_.bootstrap_servers;
}

std::string coordinator::transactional_id() const {
  if (!cfg_.group_instance_id.empty())
    return cfg_.group_id + "-" + cfg_.group_instance_id;
  // Without static membership, this host and this state directory name the
  // instance (two instances never share a state directory).
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  std::error_code ec;
  auto dir = std::filesystem::absolute(cfg_.state_dir, ec).string();
  return cfg_.group_id + "-" + host + "-"
         + std::to_string(std::hash<std::string>{}(dir) % 1000000007);
}

std::map<std::string, std::string> coordinator::client_props() const {
  std::map<std::string, std::string> props = cfg_.kafka;
  props["bootstrap.servers"] = bootstrap_servers();
  return props;
}

std::optional<std::string> coordinator::start() {
  auto log = module_logger("app");
  if (cfg_.bootstrap_servers.empty()) {
    if (!cfg_.topics_regex.empty())
      return "topics.regex needs a real cluster (bootstrap.servers)";
    try {
      embedded_ = std::make_unique<kafka::embedded_cluster>();
    } catch (const std::exception& e) {
      return e.what();
    }
    for (auto& t : cfg_.topics)
      embedded_->create_topic(t, cfg_.embedded_partitions);
    embedded_->create_topic(cfg_.changelog(), cfg_.embedded_partitions);
    embedded_->create_topic(cfg_.deadletter(), cfg_.embedded_partitions);
    log->info("embedded Kafka cluster at {}", embedded_->bootstrap_servers());
  }
  kafka::topic_plan plan{cfg_.topics, cfg_.changelog(), cfg_.deadletter(),
                         cfg_.max_record_bytes};
  kafka::topic_limits limits;
  if (auto err = kafka::prepare_topics(client_props(), plan, cfg_.topics_regex, &limits))
    return *err;

  try {
    rocksdb_options ro;
    ro.path = cfg_.state_dir;
    ro.gc_deletes_ms = cfg_.gc_deletes.count();
    ro.block_cache_bytes = cfg_.block_cache_bytes;
    ro.write_buffer_bytes = cfg_.write_buffer_bytes;
    ro.sync = cfg_.store_sync;
    store_ = make_rocksdb_store(ro);
  } catch (const std::exception& e) {
    return std::string("cannot open the store in ") + cfg_.state_dir + ": " + e.what();
  }

  configure_actor_system(sys_cfg_);
  sys_ = std::make_unique<caf::actor_system>(sys_cfg_);
  metrics_ = std::make_unique<service_metrics>(*this);
  auto* metrics = metrics_.get();
  auto sink = kafka::spawn_offset_sink(*sys_, tracker_, decisions_,
                                       [metrics](const effect& e) { metrics->observe_done(e); });
  pipeline_options popts;
  popts.shards = std::max(2u, std::thread::hardware_concurrency());
  popts.idle_timeout = cfg_.idle_timeout;
  popts.entity_limit = cfg_.entity_limit;
  popts.gc_deletes_ms = cfg_.gc_deletes.count();
  kafka::publisher_options pub;
  pub.changelog_topic = cfg_.changelog();
  pub.deadletter_topic = cfg_.deadletter();
  pub.on_stale = cfg_.on_stale;
  pub.max_record_bytes = cfg_.max_record_bytes;
  pub.deadletter_max_bytes = limits.deadletter_bytes;
  auto props = client_props();
  std::shared_ptr<kafka::transaction_context> txn;
  if (cfg_.processing_guarantee == "exactly_once") {
    txn = std::make_shared<kafka::transaction_context>();
    pub.transactions = txn;
    pub.commit_interval = cfg_.commit_interval;
    // Before a partition's window fills with records waiting for the
    // transaction (publisher_options::commit_after_effects).
    pub.commit_after_effects = std::max<size_t>(1, cfg_.max_inflight / 2);
    // Stable per instance, so a restart fences and completes what its
    // previous incarnation left open instead of waiting for a timeout.
    props.emplace("transactional.id", transactional_id());
    // Long enough to wait out a broker outage of a few minutes: past it the
    // broker aborts the transaction and fences the producer, which ends the
    // process (a restart then continues cleanly). A restart after kill -9
    // fences its predecessor at once (same transactional.id), so only an
    // instance that never returns holds read_committed readers this long.
    props.emplace("transaction.timeout.ms", "300000");
  }
  // A batch is checked whole against the topic's max.message.bytes: with an
  // output topic made elsewhere smaller than librdkafka's default batch
  // (1,000,000 bytes), batches must stay below it.
  if (limits.smallest_bytes < 1000000)
    props.emplace("batch.size", std::to_string(limits.smallest_bytes));
  // Room for a changelog record around the largest accepted document.
  props.emplace("message.max.bytes",
                std::to_string(kafka::output_message_bytes(cfg_.max_record_bytes)));
  auto outputs = outputs_;
  auto& sys = *sys_;
  engine_ = std::make_unique<pipeline>(
    sys, store_, sink, popts, [&sys, props, pub, outputs](store_actor store) {
      return kafka::spawn_publisher(sys, props, pub, store, outputs);
    });

  kafka::consumer_options copts;
  copts.props = client_props();
  copts.props["group.id"] = cfg_.group_id;
  if (!cfg_.group_instance_id.empty())
    copts.props["group.instance.id"] = cfg_.group_instance_id;
  copts.topics = cfg_.topics;
  if (!cfg_.topics_regex.empty())
    copts.topics = {cfg_.topics_regex.front() == '^' ? cfg_.topics_regex
                                                     : "^" + cfg_.topics_regex};
  copts.default_index = cfg_.default_index;
  copts.formats = cfg_.formats;
  copts.debezium = cfg_.debezium;
  copts.max_inflight = cfg_.max_inflight;
  copts.max_record_bytes = cfg_.max_record_bytes;
  copts.commit_interval = cfg_.commit_interval;
  // Drains (at SIGTERM, and of revoked partitions) keep a fifth of
  // shutdown.timeout for leaving the group and tearing down.
  copts.drain_timeout = cfg_.shutdown_timeout * 4 / 5;
  copts.changelog_topic = cfg_.changelog();
  copts.client_props = client_props();
  copts.on_commit_latency = [metrics](double s) { metrics->observe_commit(s); };
  copts.transactions = txn;
  consumer_ = kafka::spawn_consumer(*sys_, copts, engine_->handles(), tracker_, status_);
  if (!embedded_ && cfg_.group_health_interval.count() > 0) // the mock cluster lacks the APIs
    health_ = std::make_unique<kafka::group_health>(
      kafka::group_health_options{client_props(), cfg_.group_id, cfg_.topics, cfg_.topics_regex,
                                  {cfg_.changelog(), cfg_.deadletter()}, cfg_.group_health_interval},
      health_status_);
  return std::nullopt;
}

wcoord::store_stats coordinator::current_store_stats() const {
  std::lock_guard<std::mutex> g{stats_mtx_};
  auto now = std::chrono::steady_clock::now();
  if (engine_ && now - stats_time_ > std::chrono::seconds(5)) {
    auto result = std::make_shared<wcoord::store_stats>();
    auto done = run_on_store(engine_->store(),
                             [result](document_store& s) { *result = s.stats(); });
    if (done.wait_for(std::chrono::seconds(2)) == std::future_status::ready) {
      stats_cache_ = *result;
      stats_time_ = now;
    }
  }
  return stats_cache_;
}

std::optional<std::optional<stored_document>>
coordinator::read_document(const document_key& key, std::chrono::milliseconds timeout) const {
  if (!engine_)
    return std::nullopt;
  // Shared with the store thread: it may finish after we gave up waiting.
  auto result = std::make_shared<std::optional<stored_document>>();
  auto done = run_on_store(engine_->store(),
                           [result, key](document_store& s) { *result = s.load(key); });
  if (done.wait_for(timeout) != std::future_status::ready)
    return std::nullopt;
  return *result;
}

void coordinator::supervise() {
  if (!health_ || drained_)
    return;
  // Every instance sees the same group; a per-instance delay lets one of
  // them rejoin first, after which the others see every partition owned.
  // Long enough that a normal rebalance never looks like a stall.
  const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(
    cfg_.group_health_interval);
  const auto spread = static_cast<int64_t>(std::hash<std::string>{}(transactional_id()) % 20000);
  const auto after = std::max<int64_t>(30000, 3 * interval.count()) + spread;
  auto now = std::chrono::steady_clock::now();
  if (health_status_->unowned_for_ms.load() < after || now < next_rejoin_)
    return;
  module_logger("app")->warn("{} partition(s) of the subscribed topics have had no owner for "
                             "{} s: rejoining the group to make it assign them",
                             health_status_->unowned_partitions.load(),
                             health_status_->unowned_for_ms.load() / 1000);
  status_->rejoin_requested = true;
  next_rejoin_ = now + std::chrono::milliseconds(after) + std::chrono::seconds(30);
}

bool coordinator::drain() {
  if (drained_ || !consumer_)
    return true;
  drained_ = true;
  if (health_)
    health_->request_stop();
  bool ok = false;
  caf::scoped_actor self{*sys_};
  self->request(consumer_, cfg_.shutdown_timeout, drain_atom_v)
    .receive([&](bool drained) { ok = drained; },
             [&](const caf::error& err) {
               module_logger("app")->error("drain did not finish: {}",
                                           sys_->render(err));
             });
  return ok;
}

} // namespace wcoord

#pragma once
// The configuration of `wcoord run` (contract §5): dotted Kafka-style keys
// from a properties file, then WCOORD_* environment variables, then --set.
// Every key is declared once, with its default and help, in
// service_config.cpp; unknown keys are an error that lists the valid ones.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/input_format.hpp"

namespace wcoord {

struct service_config {
  std::string bootstrap_servers; // empty: embedded mock cluster
  std::string group_id = "wcoord";
  std::vector<std::string> topics;
  std::string topics_regex;
  std::string default_index;
  /// `input.format` and `input.format.<topic>`: mutations or Debezium events.
  input_formats formats;
  /// `debezium.*`: how Debezium change events map to mutations.
  debezium_options debezium;
  std::string state_dir = "wcoord-state";
  std::chrono::milliseconds gc_deletes{24 * 3600 * 1000LL};
  std::string processing_guarantee = "at_least_once";
  std::chrono::milliseconds commit_interval{1000};
  std::string changelog_topic;   // default <group.id>.changelog
  std::string deadletter_topic;  // default <group.id>.dlq
  std::string on_stale = "ignore"; // ignore | log | report
  std::chrono::milliseconds idle_timeout{120000};
  size_t entity_limit = 100000;
  /// 0 until loaded: then the user's value, or the guarantee's default
  /// (inflight_default).
  size_t max_inflight = 0;
  /// Metrics and probes (/metrics, /healthz, /readyz); reachable by design.
  std::string http_listen = "0.0.0.0:9464";
  /// Worker threads of each HTTP listener: connections served at once.
  int http_threads = 64;
  /// A client must send its request, and take the answer, within this.
  std::chrono::milliseconds http_request_timeout{5000};
  /// GET /v1/docs/{index}/{id} serves document sources: off unless asked for.
  bool http_docs_enabled = false;
  /// Its own listener (host:port); empty: on http_listen.
  std::string http_docs_listen;
  /// A file holding the bearer token document reads must present; empty:
  /// none. The token itself is never a configuration value (nor logged).
  std::string http_docs_token_file;
  std::string log_format = "text";
  std::string log_level = "info";
  size_t max_record_bytes = 1 << 20;
  size_t block_cache_bytes = 64 << 20;
  size_t write_buffer_bytes = 32 << 20;
  bool store_sync = false;
  std::chrono::milliseconds shutdown_timeout{30000};
  std::string group_instance_id;
  int embedded_partitions = 4;
  /// How often the group's health is asked of the brokers (0: never).
  std::chrono::milliseconds group_health_interval{10000};
  /// `kafka.*` keys without the prefix, passed to librdkafka unchanged.
  std::map<std::string, std::string> kafka;

  std::string changelog() const {
    return changelog_topic.empty() ? group_id + ".changelog" : changelog_topic;
  }
  std::string deadletter() const {
    return deadletter_topic.empty() ? group_id + ".dlq" : deadletter_topic;
  }
};

/// Raw key=value settings in precedence order (later wins).
struct config_sources {
  std::optional<std::string> file;
  std::vector<std::string> overrides; // from --set
  bool use_environment = true;
};

/// max.inflight.records when the user gave none: larger under exactly
/// once, where a record also waits for its transaction.
size_t inflight_default(const std::string& guarantee);

/// Builds the config or returns a human-readable error.
std::optional<std::string> load_config(const config_sources& src,
                                       service_config& out);

/// Applies one key=value (exposed for tests and the demo).
std::optional<std::string> set_config_value(service_config& cfg,
                                            const std::string& key,
                                            const std::string& value);

/// The effective configuration, one `key=value` per entry, secrets masked.
std::vector<std::string> describe_config(const service_config& cfg);

/// True for keys whose values must never be logged.
bool is_secret_key(const std::string& key);

/// `key  default  help` lines for --help.
std::string config_help();

} // namespace wcoord

#include "app/service_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "engine/duration.hpp"
#include "engine/index_name.hpp"

extern char** environ;

namespace wcoord {

namespace {

using setter = std::function<std::optional<std::string>(service_config&,
                                                        const std::string&)>;
using getter = std::function<std::string(const service_config&)>;

struct option {
  const char* key;
  const char* default_text;
  const char* help;
  setter set;
  getter get;
};

std::optional<std::string> bad(const std::string& key, const std::string& value,
                               const std::string& expected) {
  return "invalid value '" + value + "' for " + key + ": expected " + expected;
}

template <class T>
option string_opt(const char* key, const char* def, const char* help,
                  T service_config::*member) {
  return {key, def, help,
          [member](service_config& c, const std::string& v)
            -> std::optional<std::string> {
            c.*member = v;
            return std::nullopt;
          },
          [member](const service_config& c) { return c.*member; }};
}

option choice_opt(const char* key, const char* def, const char* help,
                  std::string service_config::*member,
                  std::vector<std::string> choices) {
  return {key, def, help,
          [=](service_config& c, const std::string& v)
            -> std::optional<std::string> {
            if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
              std::string all;
              for (auto& x : choices)
                all += (all.empty() ? "" : " | ") + x;
              return bad(key, v, all);
            }
            c.*member = v;
            return std::nullopt;
          },
          [member](const service_config& c) { return c.*member; }};
}

option duration_opt(const char* key, const char* def, const char* help,
                    std::chrono::milliseconds service_config::*member,
                    bool allow_zero = false) {
  return {key, def, help,
          [=](service_config& c, const std::string& v)
            -> std::optional<std::string> {
            auto d = parse_duration(v);
            if (!d || (!allow_zero && d->count() == 0))
              return bad(key, v, "a duration like 500ms, 30s, 5m, 24h");
            c.*member = *d;
            return std::nullopt;
          },
          [member](const service_config& c) {
            return std::to_string((c.*member).count()) + "ms";
          }};
}

option bool_opt(const char* key, const char* def, const char* help,
                bool service_config::*member) {
  return {key, def, help,
          [=](service_config& c, const std::string& v)
            -> std::optional<std::string> {
            if (v != "true" && v != "false")
              return bad(key, v, "true | false");
            c.*member = v == "true";
            return std::nullopt;
          },
          [member](const service_config& c) {
            return std::string(c.*member ? "true" : "false");
          }};
}

option size_opt(const char* key, const char* def, const char* help,
                size_t service_config::*member, size_t min = 1) {
  return {key, def, help,
          [=](service_config& c, const std::string& v)
            -> std::optional<std::string> {
            size_t n = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc{} || end != v.data() + v.size() || n < min)
              return bad(key, v, "an integer >= " + std::to_string(min));
            c.*member = n;
            return std::nullopt;
          },
          [member](const service_config& c) {
            return std::to_string(c.*member);
          }};
}

/// An option whose text `parse` turns into a value (nullopt: invalid),
/// which `assign` stores.
template <class Parse, class Assign>
option parsed_opt(const char* key, const char* def, const char* help, const char* expected,
                  Parse parse, Assign assign, getter get) {
  return {key, def, help,
          [=](service_config& c, const std::string& v) -> std::optional<std::string> {
            auto parsed = parse(v);
            if (!parsed)
              return bad(key, v, expected);
            assign(c, *parsed);
            return std::nullopt;
          },
          std::move(get)};
}

const std::vector<option>& options() {
  static const std::vector<option> all = {
    string_opt("bootstrap.servers", "(embedded)",
               "Kafka brokers; empty starts an embedded in-process cluster",
               &service_config::bootstrap_servers),
    string_opt("group.id", "wcoord", "consumer group", &service_config::group_id),
    {"topics", "mutations", "comma-separated mutation topics",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       c.topics.clear();
       std::stringstream ss(v);
       for (std::string t; std::getline(ss, t, ',');) {
         t.erase(0, t.find_first_not_of(' '));
         t.erase(t.find_last_not_of(' ') + 1);
         if (!t.empty())
           c.topics.push_back(t);
       }
       return std::nullopt;
     },
     [](const service_config& c) {
       std::string s;
       for (auto& t : c.topics)
         s += (s.empty() ? "" : ",") + t;
       return s;
     }},
    string_opt("topics.regex", "", "mutation topics by regular expression",
               &service_config::topics_regex),
    {"default.index", "(topic name)", "index for mutations without one",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       // Every mutation without an index would be refused: say so at start.
       if (!v.empty())
         if (auto why = invalid_index_name_reason(v))
           return "default.index: " + *why;
       c.default_index = v;
       return std::nullopt;
     },
     [](const service_config& c) { return c.default_index; }},
    parsed_opt(
      "input.format", "mutation",
      "record format: mutation, or debezium (change events); input.format.<topic> for one topic",
      "mutation | debezium", parse_input_format,
      [](service_config& c, input_format f) { c.formats.fallback = f; },
      [](const service_config& c) { return std::string(to_string(c.formats.fallback)); }),
    parsed_opt(
      "debezium.index", "table",
      "index of a Debezium event: table (source.table), schema.table, or fixed (default.index)",
      "table | schema.table | fixed", parse_index_source,
      [](service_config& c, debezium_options::index_source s) { c.debezium.index = s; },
      [](const service_config& c) {
        using s = debezium_options::index_source;
        return std::string(c.debezium.index == s::table          ? "table"
                           : c.debezium.index == s::schema_table ? "schema.table"
                                                                 : "fixed");
      }),
    {"debezium.version", "source.lsn",
     "version of a Debezium event: source.lsn, source.ts_ms, or column:<name> of the row",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       if (!parse_version_source(v, c.debezium.version, c.debezium.version_column))
         return bad("debezium.version", v, "source.lsn | source.ts_ms | column:<name>");
       return std::nullopt;
     },
     [](const service_config& c) {
       using s = debezium_options::version_source;
       return c.debezium.version == s::lsn     ? std::string("source.lsn")
              : c.debezium.version == s::ts_ms ? std::string("source.ts_ms")
                                               : "column:" + c.debezium.version_column;
     }},
    parsed_opt(
      "debezium.version.type", "external",
      "version type of Debezium events: external, or external_gte (equal versions win too)",
      "external | external_gte", parse_debezium_version_type,
      [](service_config& c, version_type t) { c.debezium.vtype = t; },
      [](const service_config& c) { return std::string(to_string(c.debezium.vtype)); }),
    string_opt("state.dir", "wcoord-state", "directory of the embedded store",
               &service_config::state_dir),
    duration_opt("gc.deletes", "24h", "how long tombstones are honoured (event time)",
                 &service_config::gc_deletes, true),
    choice_opt("processing.guarantee", "at_least_once", "delivery guarantee",
               &service_config::processing_guarantee,
               {"at_least_once", "exactly_once"}),
    {"commit.interval.ms", "1000",
     "how often finished offsets are committed (exactly once: transactions, sooner once "
     "max.inflight.records/2 records wait)",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       auto d = parse_duration(v);
       if (!d || d->count() == 0)
         return bad("commit.interval.ms", v, "milliseconds > 0");
       c.commit_interval = *d;
       return std::nullopt;
     },
     [](const service_config& c) { return std::to_string(c.commit_interval.count()); }},
    string_opt("changelog.topic", "<group.id>.changelog", "compacted changelog topic",
               &service_config::changelog_topic),
    string_opt("errors.deadletterqueue.topic.name", "<group.id>.dlq",
               "dead-letter topic", &service_config::deadletter_topic),
    choice_opt("behavior.on.stale.version", "ignore",
               "stale external versions: ignore, log, or report to the dead-letter topic",
               &service_config::on_stale, {"ignore", "log", "report"}),
    duration_opt("passivation.idle.timeout", "120s",
                 "idle time before a document actor stops",
                 &service_config::idle_timeout),
    size_opt("passivation.active.entity.limit", "100000",
             "max live document actors", &service_config::entity_limit),
    size_opt("max.inflight.records", "4000|10000",
             "unfinished records per partition before it pauses (at_least_once|exactly_once)",
             &service_config::max_inflight),
    string_opt("http.listen", "0.0.0.0:9464",
               "metrics and probes (/metrics /healthz /readyz), host:port",
               &service_config::http_listen),
    {"http.threads", "64",
     "worker threads per HTTP listener: connections served at once (slow clients hold one each)",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       int n = 0;
       auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
       if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 1024)
         return bad("http.threads", v, "1..1024");
       c.http_threads = n;
       return std::nullopt;
     },
     [](const service_config& c) { return std::to_string(c.http_threads); }},
    duration_opt("http.request.timeout", "5s",
                 "a client must send its request and take the answer within this",
                 &service_config::http_request_timeout),
    bool_opt("http.docs.enabled", "false",
             "serve GET /v1/docs/{index}/{id} (document sources)",
             &service_config::http_docs_enabled),
    string_opt("http.docs.listen", "(http.listen)",
               "own listener for document reads, host:port",
               &service_config::http_docs_listen),
    string_opt("http.docs.token.file", "",
               "file with the bearer token document reads must present",
               &service_config::http_docs_token_file),
    choice_opt("log.format", "text", "text or json (one object per line)",
               &service_config::log_format, {"text", "json"}),
    choice_opt("log.level", "info", "trace, debug, info, warn, error",
               &service_config::log_level,
               {"trace", "debug", "info", "warn", "error"}),
    size_opt("max.record.bytes", "1048576",
             "larger record values are invalid (400) without parsing",
             &service_config::max_record_bytes),
    size_opt("store.block.cache.bytes", "67108864", "RocksDB block cache size",
             &service_config::block_cache_bytes),
    size_opt("store.write.buffer.bytes", "33554432",
             "RocksDB memtable budget", &service_config::write_buffer_bytes),
    bool_opt("store.sync", "false", "fsync every store commit (power-loss safety)",
             &service_config::store_sync),
    duration_opt("shutdown.timeout", "30s", "bound on the graceful drain at SIGTERM",
                 &service_config::shutdown_timeout),
    string_opt("group.instance.id", "", "static group membership (e.g. the pod name)",
               &service_config::group_instance_id),
    duration_opt("group.health.interval", "10s",
                 "how often unowned partitions and commit ages are asked of the brokers (0: never)",
                 &service_config::group_health_interval, true),
    {"embedded.partitions", "4", "partitions per topic in the embedded cluster",
     [](service_config& c, const std::string& v) -> std::optional<std::string> {
       int n = 0;
       auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
       if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 1000)
         return bad("embedded.partitions", v, "1..1000");
       c.embedded_partitions = n;
       return std::nullopt;
     },
     [](const service_config& c) { return std::to_string(c.embedded_partitions); }},
  };
  return all;
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string valid_keys() {
  std::string s;
  for (auto& o : options())
    s += std::string("  ") + o.key + "\n";
  s += "  input.format.<topic>\n";
  s += "  kafka.<librdkafka property>\n";
  return s;
}

/// A document's owner is the owner of its partition number (contract §7):
/// partition N of every mutation topic must go to one member, because its
/// documents may arrive through any of them and all of them write changelog
/// partition N, from which a new owner restores. Only the range assignor
/// keeps same-numbered partitions of equally partitioned topics together;
/// cooperative-sticky and roundrobin may split them, leaving two owners of a
/// document and a changelog partition with two writers, whose restore
/// checkpoint then skips the other writer's records.
std::optional<std::string> co_partitioned_assignment(const service_config& out) {
  if (out.topics.size() < 2 && out.topics_regex.empty())
    return std::nullopt; // one topic: cooperative-sticky stays the default
  auto it = out.kafka.find("partition.assignment.strategy"); // default: consumer_settings
  if (it == out.kafka.end() || trim(it->second) == "range")
    return std::nullopt;
  return "kafka.partition.assignment.strategy=" + it->second
         + " may give partition N of two mutation topics to different members; with "
           "several topics (or topics.regex) only range keeps each partition number, and "
           "so each document and its changelog partition, with one owner";
}

} // namespace

bool is_secret_key(const std::string& key) {
  static const char* markers[] = {"password", "secret", "jaas", "key.pem",
                                  "ssl.key", "token", "credential"};
  std::string k = key;
  std::transform(k.begin(), k.end(), k.begin(), ::tolower);
  for (auto* m : markers)
    if (k.find(m) != std::string::npos)
      return true;
  return false;
}

std::optional<std::string> set_config_value(service_config& cfg,
                                            const std::string& key,
                                            const std::string& value) {
  if (key.rfind("kafka.", 0) == 0 && key.size() > 6) {
    cfg.kafka[key.substr(6)] = value;
    return std::nullopt;
  }
  const std::string per_topic = "input.format.";
  if (key.rfind(per_topic, 0) == 0 && key.size() > per_topic.size()) {
    auto f = parse_input_format(value);
    if (!f)
      return bad(key, value, "mutation | debezium");
    cfg.formats.by_topic[key.substr(per_topic.size())] = *f;
    return std::nullopt;
  }
  for (auto& o : options())
    if (key == o.key)
      return o.set(cfg, value);
  return "unknown configuration key '" + key + "'; valid keys are:\n"
         + valid_keys();
}

size_t inflight_default(const std::string& guarantee) {
  // Each unfinished record holds about 2 KB until it is durable (its bytes,
  // work item, decision, rendered output, the producer's copy). At least
  // once, 4,000 a partition keep the pipeline full: the 1M/100k drain ran
  // as fast as with 10,000 (faster: 54.9k/s against 43-45k/s) at 403
  // against 450-467 MB peak. Exactly once a record also waits for its
  // transaction, so the window must hold a commit's worth of records:
  // 4,000 cost 14% of the rate there (42-44k/s against 49k/s).
  return guarantee == "exactly_once" ? 10000 : 4000;
}

std::optional<std::string> load_config(const config_sources& src,
                                       service_config& out) {
  if (src.file) {
    std::ifstream in(*src.file);
    if (!in)
      return "cannot read config file " + *src.file;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      line = trim(line);
      if (line.empty() || line[0] == '#' || line[0] == '!')
        continue;
      auto eq = line.find('=');
      if (eq == std::string::npos)
        return *src.file + ":" + std::to_string(n) + ": expected key=value";
      if (auto err = set_config_value(out, trim(line.substr(0, eq)),
                                      trim(line.substr(eq + 1))))
        return *src.file + ":" + std::to_string(n) + ": " + *err;
    }
  }
  if (src.use_environment) {
    // WCOORD_GROUP_ID -> group.id; WCOORD_KAFKA_SASL_PASSWORD -> kafka.sasl.password.
    for (char** e = environ; *e; ++e) {
      std::string entry = *e;
      if (entry.rfind("WCOORD_", 0) != 0)
        continue;
      auto eq = entry.find('=');
      std::string name = entry.substr(7, eq - 7);
      std::string key;
      for (char c : name)
        key += c == '_' ? '.' : static_cast<char>(::tolower(c));
      if (key == "home" || key == "kafka.home") // used by scripts, not config
        continue;
      if (auto err = set_config_value(out, key, entry.substr(eq + 1)))
        return "environment " + entry.substr(0, eq) + ": " + *err;
    }
  }
  for (auto& kv : src.overrides) {
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      return "--set expects key=value, got '" + kv + "'";
    if (auto err = set_config_value(out, trim(kv.substr(0, eq)), kv.substr(eq + 1)))
      return "--set " + *err;
  }
  if (out.topics.empty() && out.topics_regex.empty())
    out.topics = {"mutations"};
  if (!out.topics.empty() && !out.topics_regex.empty())
    return "set either topics or topics.regex, not both";
  if (out.group_id.empty())
    return "group.id must not be empty";
  if (auto err = co_partitioned_assignment(out))
    return err;
  if (out.max_inflight == 0)
    out.max_inflight = inflight_default(out.processing_guarantee);
  for (auto& [topic, format] : out.formats.by_topic)
    if (!out.topics.empty()
        && std::find(out.topics.begin(), out.topics.end(), topic) == out.topics.end())
      return "input.format." + topic + " names a topic that is not in topics";
  if (!out.http_docs_enabled
      && (!out.http_docs_listen.empty() || !out.http_docs_token_file.empty()))
    return "http.docs.listen and http.docs.token.file apply to document reads, "
           "which are off: set http.docs.enabled=true";
  // Port 0 (a free port each) may appear twice.
  bool any_port = out.http_listen.size() >= 2
                  && out.http_listen.compare(out.http_listen.size() - 2, 2, ":0") == 0;
  if (!out.http_docs_listen.empty() && out.http_docs_listen == out.http_listen && !any_port)
    return "http.docs.listen must differ from http.listen (leave it empty to serve "
           "document reads on http.listen)";
  return std::nullopt;
}

std::vector<std::string> describe_config(const service_config& cfg) {
  std::vector<std::string> out;
  for (auto& o : options())
    out.push_back(std::string(o.key) + "=" + o.get(cfg));
  for (auto& [topic, format] : cfg.formats.by_topic)
    out.push_back("input.format." + topic + "=" + to_string(format));
  for (auto& [k, v] : cfg.kafka)
    out.push_back("kafka." + k + "=" + (is_secret_key(k) ? "******" : v));
  return out;
}

std::string config_help() {
  std::string s;
  for (auto& o : options()) {
    std::string k = o.key;
    k.resize(std::max<size_t>(k.size() + 1, 34), ' ');
    std::string d = o.default_text;
    d.resize(std::max<size_t>(d.size() + 1, 22), ' ');
    s += "  " + k + d + o.help + "\n";
  }
  s += "  input.format.<topic>              (input.format)        the record format of one topic\n";
  s += "  kafka.*                           passed to librdkafka unchanged\n";
  return s;
}

} // namespace wcoord

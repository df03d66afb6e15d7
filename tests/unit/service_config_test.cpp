// Configuration: file, then WCOORD_* environment, then --set; strict keys;
// secrets never shown.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "app/service_config.hpp"

using namespace wcoord;

namespace {

struct env_var {
  const char* name;
  env_var(const char* n, const char* v) : name(n) { setenv(n, v, 1); }
  ~env_var() { unsetenv(name); }
};

std::string temp_file(const std::string& text) {
  char path[] = "/tmp/wcoord-config-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::ofstream(path) << text;
  return path;
}

} // namespace

TEST_CASE("defaults are the contract's") {
  service_config c;
  config_sources src;
  src.use_environment = false;
  REQUIRE_FALSE(load_config(src, c));
  CHECK(c.group_id == "wcoord");
  CHECK(c.changelog() == "wcoord.changelog");
  CHECK(c.deadletter() == "wcoord.dlq");
  CHECK(c.gc_deletes.count() == 24 * 3600 * 1000LL);
  CHECK(c.http_listen == "0.0.0.0:9464");
  CHECK(c.topics == std::vector<std::string>{"mutations"});
}

TEST_CASE("file, then environment, then --set") {
  auto path = temp_file("# comment\ngroup.id = from-file\ntopics=a, b\nkafka.linger.ms=7\n"
                        "passivation.idle.timeout=2m\n");
  env_var e1("WCOORD_GROUP_ID", "from-env");
  env_var e2("WCOORD_KAFKA_SASL_PASSWORD", "hunter2");
  service_config c;
  config_sources src;
  src.file = path;
  src.overrides = {"commit.interval.ms=250"};
  REQUIRE_FALSE(load_config(src, c));
  CHECK(c.group_id == "from-env");
  CHECK(c.topics == std::vector<std::string>{"a", "b"});
  CHECK(c.kafka.at("linger.ms") == "7");
  CHECK(c.kafka.at("sasl.password") == "hunter2");
  CHECK(c.idle_timeout.count() == 120000);
  CHECK(c.commit_interval.count() == 250);
  src.overrides.push_back("group.id=from-set");
  service_config d;
  REQUIRE_FALSE(load_config(src, d));
  CHECK(d.group_id == "from-set");
  // Secrets are masked wherever the configuration is shown.
  bool masked = false;
  for (auto& line : describe_config(d)) {
    CHECK(line.find("hunter2") == std::string::npos);
    masked |= line == "kafka.sasl.password=******";
  }
  CHECK(masked);
}

TEST_CASE("unknown keys and bad values are errors that say what is valid") {
  service_config c;
  config_sources src;
  src.use_environment = false;
  src.overrides = {"grop.id=x"};
  auto err = load_config(src, c);
  REQUIRE(err);
  CHECK(err->find("unknown configuration key 'grop.id'") != std::string::npos);
  CHECK(err->find("group.id") != std::string::npos);
  for (const char* bad : {"gc.deletes=soon", "max.inflight.records=0",
                          "behavior.on.stale.version=sometimes", "log.level=loud",
                          "processing.guarantee=maybe", "store.sync=yes"}) {
    INFO(bad);
    service_config d;
    src.overrides = {bad};
    CHECK(load_config(src, d));
  }
  service_config d;
  src.overrides = {"topics=a", "topics.regex=b.*"};
  CHECK(load_config(src, d));
  src.overrides = {"no-equals-sign"};
  CHECK(load_config(src, d));
  config_sources missing;
  missing.file = "/nonexistent/wcoord.properties";
  CHECK(load_config(missing, d));
}

TEST_CASE("several mutation topics keep each partition number with one member") {
  auto load = [](std::vector<std::string> overrides, service_config& c) {
    config_sources src;
    src.use_environment = false;
    src.overrides = std::move(overrides);
    return load_config(src, c);
  };
  SECTION("several topics or a regex: the default (range, consumer_settings) is fine") {
    for (auto& topics : {"topics=a,b", "topics.regex=m-.*"}) {
      INFO(topics);
      service_config c;
      CHECK_FALSE(load({topics}, c));
    }
  }
  SECTION("an assignor that may split partition N across members is refused") {
    for (auto& strategy : {"cooperative-sticky", "roundrobin", "range,roundrobin"}) {
      INFO(strategy);
      service_config c;
      auto err = load({"topics=a,b", std::string("kafka.partition.assignment.strategy=")
                                       + strategy},
                      c);
      REQUIRE(err);
      CHECK(err->find("only range") != std::string::npos);
    }
    service_config c;
    CHECK_FALSE(load({"topics=a,b", "kafka.partition.assignment.strategy=range"}, c));
  }
}

TEST_CASE("default.index must be an index name Elasticsearch accepts") {
  config_sources src;
  src.use_environment = false;
  service_config c;
  src.overrides = {"default.index=Orders"};
  auto err = load_config(src, c);
  REQUIRE(err);
  CHECK(*err == "--set default.index: Invalid index name [Orders], must be lowercase");
  service_config d;
  src.overrides = {"default.index=orders"};
  CHECK_FALSE(load_config(src, d));
  CHECK(d.default_index == "orders");
}

TEST_CASE("the HTTP surface: probes open, document reads off unless asked for") {
  service_config c;
  config_sources src;
  src.use_environment = false;
  REQUIRE_FALSE(load_config(src, c));
  CHECK(c.http_listen == "0.0.0.0:9464");
  CHECK(c.http_threads == 64);
  CHECK(c.http_request_timeout.count() == 5000);
  CHECK_FALSE(c.http_docs_enabled);
  CHECK(c.http_docs_listen.empty());
  CHECK(c.http_docs_token_file.empty());

  src.overrides = {"http.docs.enabled=true", "http.docs.listen=127.0.0.1:9465",
                   "http.docs.token.file=/run/secrets/docs-token", "http.threads=8",
                   "http.request.timeout=2s"};
  service_config d;
  REQUIRE_FALSE(load_config(src, d));
  CHECK(d.http_docs_enabled);
  CHECK(d.http_docs_listen == "127.0.0.1:9465");
  CHECK(d.http_docs_token_file == "/run/secrets/docs-token");
  CHECK(d.http_threads == 8);
  CHECK(d.http_request_timeout.count() == 2000);
  // The token file's path is shown; the token itself is never configuration.
  bool shown = false;
  for (auto& line : describe_config(d))
    shown |= line == "http.docs.token.file=/run/secrets/docs-token";
  CHECK(shown);

  for (const char* bad : {"http.threads=0", "http.threads=5000", "http.threads=many",
                          "http.request.timeout=0", "http.request.timeout=soon",
                          "http.docs.enabled=yes"}) {
    INFO(bad);
    service_config e;
    src.overrides = {bad};
    CHECK(load_config(src, e));
  }
  // A listener or token for document reads that are off is a mistake.
  for (const char* orphan : {"http.docs.listen=0.0.0.0:9465", "http.docs.token.file=/t"}) {
    INFO(orphan);
    service_config e;
    src.overrides = {orphan};
    auto err = load_config(src, e);
    REQUIRE(err);
    CHECK(err->find("http.docs.enabled=true") != std::string::npos);
  }
  service_config e;
  src.overrides = {"http.docs.enabled=true", "http.docs.listen=0.0.0.0:9464"};
  auto err = load_config(src, e);
  REQUIRE(err);
  CHECK(err->find("must differ from http.listen") != std::string::npos);
}

TEST_CASE("input formats: one for all topics, or one per topic, and Debezium's mapping") {
  service_config c;
  config_sources src;
  src.use_environment = false;
  REQUIRE_FALSE(load_config(src, c));
  CHECK(c.formats.of("mutations") == input_format::mutation);
  CHECK(c.debezium.index == debezium_options::index_source::table);
  CHECK(c.debezium.version == debezium_options::version_source::lsn);
  CHECK(c.debezium.vtype == version_type::external);

  src.overrides = {"topics=orders,cdc.public.items", "input.format.cdc.public.items=debezium",
                   "debezium.index=schema.table", "debezium.version=column:updated_at",
                   "debezium.version.type=external_gte"};
  service_config d;
  REQUIRE_FALSE(load_config(src, d));
  CHECK(d.formats.of("orders") == input_format::mutation);
  CHECK(d.formats.of("cdc.public.items") == input_format::debezium);
  CHECK(d.debezium.index == debezium_options::index_source::schema_table);
  CHECK(d.debezium.version == debezium_options::version_source::column);
  CHECK(d.debezium.version_column == "updated_at");
  CHECK(d.debezium.vtype == version_type::external_gte);
  auto described = describe_config(d);
  auto has = [&](const std::string& line) {
    return std::find(described.begin(), described.end(), line) != described.end();
  };
  CHECK(has("input.format=mutation"));
  CHECK(has("input.format.cdc.public.items=debezium"));
  CHECK(has("debezium.version=column:updated_at"));
  CHECK(has("debezium.version.type=external_gte"));

  service_config e;
  src.overrides = {"input.format=debezium"};
  REQUIRE_FALSE(load_config(src, e));
  CHECK(e.formats.of("mutations") == input_format::debezium);

  auto error_of = [&](std::vector<std::string> overrides) {
    service_config x;
    config_sources s;
    s.use_environment = false;
    s.overrides = std::move(overrides);
    return load_config(s, x).value_or("");
  };
  CHECK(error_of({"input.format=avro"}).find("mutation | debezium") != std::string::npos);
  CHECK(error_of({"input.format.mutations=json"}).find("input.format.mutations")
        != std::string::npos);
  CHECK(error_of({"topics=a", "input.format.b=debezium"})
        == "input.format.b names a topic that is not in topics");
  CHECK(error_of({"debezium.index=db.table"}).find("table | schema.table | fixed")
        != std::string::npos);
  CHECK(error_of({"debezium.version=column:"}).find("column:<name>") != std::string::npos);
  CHECK(error_of({"debezium.version.type=internal"}).find("external | external_gte")
        != std::string::npos);
  CHECK(config_help().find("input.format.<topic>") != std::string::npos);
}

TEST_CASE("max.inflight.records defaults by guarantee; a given value wins under both") {
  auto load = [](std::vector<std::string> overrides) {
    service_config c;
    config_sources src;
    src.use_environment = false;
    src.overrides = std::move(overrides);
    REQUIRE_FALSE(load_config(src, c));
    return c.max_inflight;
  };
  CHECK(load({}) == 4000);
  CHECK(load({"processing.guarantee=exactly_once"}) == 10000);
  CHECK(load({"max.inflight.records=777"}) == 777);
  CHECK(load({"processing.guarantee=exactly_once", "max.inflight.records=777"}) == 777);
}

// Debezium change events as mutations: every mapping rule and every
// mapping error, in both JSON shapes of Kafka Connect's JsonConverter.

#include <catch2/catch.hpp>

#include <string>
#include <tuple>

#include "engine/debezium_event.hpp"
#include "engine/input_format.hpp"

using namespace wcoord;

namespace {

using index_source = debezium_options::index_source;
using version_source = debezium_options::version_source;

/// A PostgreSQL event as Debezium 3 writes it (schemas.enable=false).
std::string pg_event(const std::string& op, const std::string& before, const std::string& after,
                     const std::string& source_extra = R"(,"lsn":24023128)") {
  return R"({"before":)" + before + R"(,"after":)" + after
         + R"(,"source":{"version":"3.1.2.Final","connector":"postgresql","name":"app",)"
           R"("ts_ms":1700000000123,"snapshot":"false","db":"shop","sequence":"[null,\"24023128\"]",)"
           R"("schema":"public","table":"items","txId":750)"
         + source_extra + R"(,"xmin":null},"transaction":null,"op":")" + op
         + R"(","ts_ms":1700000000456})";
}

const std::string row = R"({"id":7,"name":"lamp","version":3})";
const std::string key7 = R"({"id":7})";

/// The same value in the schema wrapper (schemas.enable=true). The
/// translator does not read the schema, so a stand-in shape will do.
std::string wrapped(const std::string& payload) {
  return R"({"schema":{"type":"struct","fields":[],"optional":false,"name":"app.public.items.Envelope"},"payload":)"
         + payload + "}";
}

debezium_translation translate(const std::optional<std::string>& value,
                               const std::optional<std::string>& key,
                               debezium_options opts = {}) {
  debezium_translator t{opts};
  record_context ctx;
  if (key)
    ctx.key = *key;
  ctx.default_index = "topic-or-default";
  ctx.record_timestamp = 99;
  std::optional<std::string_view> v;
  if (value)
    v = *value;
  return t.translate(v, ctx);
}

std::string reason(const debezium_translation& t) {
  REQUIRE(t.result.invalid);
  REQUIRE(t.result.invalid->error);
  CHECK(t.result.invalid->status == 400);
  return t.result.invalid->error->reason;
}

debezium_options with_version(version_source v, std::string column = {}) {
  debezium_options o;
  o.version = v;
  o.version_column = std::move(column);
  return o;
}

} // namespace

TEST_CASE("debezium: ops c, r and u index the after row, d deletes") {
  auto [op, expected] = GENERATE(table<std::string, op_type>({
    {"c", op_type::index},
    {"r", op_type::index},
    {"u", op_type::index},
    {"d", op_type::remove},
  }));
  const bool del = op == "d";
  auto value = pg_event(op, del ? row : "null", del ? "null" : row);
  for (bool schemas : {false, true}) {
    CAPTURE(op, schemas);
    auto t = translate(schemas ? wrapped(value) : value,
                       schemas ? wrapped(key7) : key7);
    REQUIRE_FALSE(t.result.invalid);
    CHECK_FALSE(t.tombstone);
    const auto& m = t.result.value;
    CHECK(m.op == expected);
    CHECK(m.index == "items");
    CHECK(m.id == "7");
    CHECK(m.version == 24023128);
    CHECK(m.vtype == version_type::external);
    CHECK(m.timestamp == 1700000000123);
    CHECK(m.source == (del ? "" : row));
    CHECK(t.result.has_id);
  }
}

TEST_CASE("debezium: the after row is kept byte-exact") {
  const std::string doc =
    "{ \"id\" : 7, \"price\": 1.50E+2, \"big\": -9223372036854775808,\n"
    "  \"t\":\"}\\u00e9\", \"nested\": {\"a\": [1, {}]} }";
  for (bool schemas : {false, true}) {
    auto value = pg_event("u", "null", doc);
    auto t = translate(schemas ? wrapped(value) : value, key7);
    CAPTURE(schemas);
    REQUIRE_FALSE(t.result.invalid);
    CHECK(t.result.value.source == doc);
  }
}

TEST_CASE("debezium: Kafka tombstones are skipped, not decided") {
  CHECK(translate(std::nullopt, key7).tombstone);
  CHECK(translate(std::nullopt, wrapped(key7)).tombstone);
  // JsonConverter with schemas.enable=true may wrap a null too.
  auto t = translate(R"({"schema":null,"payload":null})", key7);
  CHECK(t.tombstone);
  CHECK_FALSE(t.result.invalid);
  // An empty value is not a tombstone: it is not JSON.
  auto empty = translate(std::string(), key7);
  CHECK_FALSE(empty.tombstone);
  CHECK(reason(empty).find("failed to parse JSON") == 0);
}

TEST_CASE("debezium: the index comes from the table, schema and table, or is fixed") {
  auto [source, expected] = GENERATE(table<index_source, std::string>({
    {index_source::table, "items"},
    {index_source::schema_table, "public.items"},
    {index_source::fixed, "topic-or-default"},
  }));
  debezium_options o;
  o.index = source;
  auto t = translate(pg_event("c", "null", row), key7, o);
  REQUIRE_FALSE(t.result.invalid);
  CHECK(t.result.value.index == expected);
}

TEST_CASE("debezium: the id comes from the key's fields") {
  auto [key, expected] = GENERATE(table<std::string, std::string>({
    {R"({"id":7})", "7"},
    {R"({"id":-7})", "-7"},
    {R"({"id":18446744073709551615})", "18446744073709551615"},
    {R"({"sku":"A-1"})", "A-1"},
    {R"({"sku":"a,b\\c"})", "a,b\\c"}, // one column: its value as is
    {R"({"flag":true})", "true"},
    {R"({"x":1.5})", "1.5"},
    {R"({"tenant":"t1","id":42})", "t1,42"},
    {R"({"a":"x,y","b":"z"})", "x\\,y,z"},
    {R"({"a":"x","b":"y,z"})", "x,y\\,z"},
    {R"({"a":"back\\slash","b":""})", "back\\\\slash,"},
    {R"({"b":2,"a":1})", "2,1"}, // key order, as Debezium writes the primary key
  }));
  for (bool schemas : {false, true}) {
    CAPTURE(key, schemas);
    auto t = translate(pg_event("c", "null", row), schemas ? wrapped(key) : key);
    REQUIRE_FALSE(t.result.invalid);
    CHECK(t.result.value.id == expected);
  }
}

TEST_CASE("debezium: composite ids are unambiguous") {
  std::string ab_c[] = {"a,b", "c"};
  std::string a_bc[] = {"a", "b,c"};
  CHECK(composite_id(ab_c, 2) == "a\\,b,c");
  CHECK(composite_id(a_bc, 2) == "a,b\\,c");
  CHECK(composite_id(ab_c, 2) != composite_id(a_bc, 2));
}

TEST_CASE("debezium: the version comes from source.lsn, source.ts_ms or a column") {
  auto [source, column, op, expected] =
    GENERATE(table<version_source, std::string, std::string, int64_t>({
      {version_source::lsn, "", "c", 24023128},
      {version_source::lsn, "", "d", 24023128},
      {version_source::ts_ms, "", "u", 1700000000123},
      {version_source::ts_ms, "", "d", 1700000000123},
      {version_source::column, "version", "r", 3},
      {version_source::column, "version", "u", 3},
      // A delete follows the write of before's version: one more.
      {version_source::column, "version", "d", 4},
    }));
  CAPTURE(op, column);
  const bool del = op == "d";
  auto t = translate(pg_event(op, del ? row : "null", del ? "null" : row), key7,
                     with_version(source, column));
  REQUIRE_FALSE(t.result.invalid);
  CHECK(t.result.value.version == expected);
}

TEST_CASE("debezium: the version type is external unless external_gte is asked for") {
  debezium_options o;
  o.vtype = version_type::external_gte;
  auto t = translate(pg_event("u", "null", row), key7, o);
  REQUIRE_FALSE(t.result.invalid);
  CHECK(t.result.value.vtype == version_type::external_gte);
}

TEST_CASE("debezium: the event time is source.ts_ms, else ts_ms, else the record's") {
  auto full = translate(pg_event("c", "null", row), key7);
  CHECK(full.result.value.timestamp == 1700000000123);
  auto envelope_only = translate(
    R"({"after":{"id":7},"source":{"table":"items","lsn":5},"op":"c","ts_ms":1700000000456})",
    key7);
  REQUIRE_FALSE(envelope_only.result.invalid);
  CHECK(envelope_only.result.value.timestamp == 1700000000456);
  auto none = translate(R"({"after":{"id":7},"source":{"table":"items","lsn":5},"op":"c"})", key7);
  REQUIRE_FALSE(none.result.invalid);
  CHECK(none.result.value.timestamp == 99);
}

TEST_CASE("debezium: every mapping error is invalid, and its reason names the field") {
  using opt = std::optional<std::string>;
  const auto lsn = with_version(version_source::lsn);
  const auto ts = with_version(version_source::ts_ms);
  const auto col = with_version(version_source::column, "version");
  debezium_options schema_table;
  schema_table.index = index_source::schema_table;
  auto [value, key, opts, expected] =
    GENERATE_COPY(table<opt, opt, debezium_options, std::string>({
      // The record.
      {opt("[1]"), key7, lsn, "record value is not a JSON object"},
      {opt("{\"op\":"), key7, lsn, "failed to parse JSON"},
      {opt("{\"op\":\"c\"} x"), key7, lsn, "failed to parse JSON"},
      {opt("{\"op\":\"\xff\"}"), key7, lsn, "failed to parse JSON"},
      {opt(wrapped("[]")), key7, lsn, "payload is not a JSON object"},
      {opt(R"({"op":"c","op":"d"})"), key7, lsn, "duplicate field [op]"},
      // Numbers beyond 64 bits are refused, as in the mutation format.
      {opt(pg_event("c", "null", R"({"id":7,"n":123456789012345678901234567890})")), key7, lsn,
       "failed to parse JSON"},
      {opt(pg_event("c", "null", R"({"id":7,"a":{"x":1,"x":2}})")), key7, lsn,
       "duplicate field [after.a.x]"},
      // op.
      {opt(R"({"after":{"id":7},"source":{"table":"items","lsn":1}})"), key7, lsn,
       "op is missing"},
      {opt(R"({"op":1})"), key7, lsn, "op is not a string: [1]"},
      {opt(pg_event("m", "null", "null")), key7, lsn,
       "op [m] is unknown, expected one of [c, r, u, d, t]"},
      {opt(pg_event("t", "null", "null")), std::nullopt, lsn,
       "op [t]: the truncate of table [public.items] is not replicated"},
      // The index.
      {opt(R"({"op":"c","after":{"id":7}})"), key7, lsn, "source is missing"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"lsn":1}})"), key7, lsn,
       "source.table is missing"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"table":"","lsn":1}})"), key7, lsn,
       "source.table is missing"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"table":"items","lsn":1}})"), key7,
       schema_table, "source.schema is missing"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"table":"Items","lsn":1}})"), key7, lsn,
       "source.table: Invalid index name [Items], must be lowercase"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"schema":"_s","table":"t","lsn":1}})"),
       key7, schema_table, "source.schema.table: Invalid index name [_s.t], must not start with"},
      // The row.
      {opt(pg_event("c", "null", "null")), key7, lsn, "after is missing"},
      {opt(pg_event("u", "null", "[1]")), key7, lsn, "after is not a JSON object"},
      // The version.
      {opt(pg_event("c", "null", row, "")), key7, lsn, "source.lsn is missing"},
      {opt(pg_event("c", "null", row, R"(,"lsn":null)")), key7, lsn, "source.lsn is null"},
      {opt(pg_event("c", "null", row, R"(,"lsn":"24023128")")), key7, lsn,
       "source.lsn is not an integer in the int64 range: [24023128]"},
      {opt(pg_event("c", "null", row, R"(,"lsn":1.5)")), key7, lsn,
       "source.lsn is not an integer in the int64 range: [1.5]"},
      {opt(pg_event("c", "null", row, R"(,"lsn":9223372036854775808)")), key7, lsn,
       "source.lsn is not an integer in the int64 range"},
      {opt(pg_event("c", "null", row, R"(,"lsn":-1)")), key7, lsn, "source.lsn is negative"},
      {opt(R"({"op":"c","after":{"id":7},"source":{"table":"items"}})"), key7, ts,
       "source.ts_ms is missing"},
      {opt(pg_event("c", "null", R"({"id":7})")), key7, col, "after.version is missing"},
      {opt(pg_event("u", "null", R"({"id":7,"version":null})")), key7, col,
       "after.version is null"},
      {opt(pg_event("u", "null", R"({"id":7,"version":"3"})")), key7, col,
       "after.version is not an integer in the int64 range: [3]"},
      {opt(pg_event("d", R"({"id":7})", "null")), key7, col,
       "before.version is missing: a delete carries the old row's columns only with REPLICA "
       "IDENTITY FULL"},
      {opt(pg_event("d", "null", "null")), key7, col, "before is missing"},
      // Debezium sends a delete's non-key columns as null without REPLICA IDENTITY FULL.
      {opt(pg_event("d", R"({"id":7,"version":null})", "null")), key7, col,
       "before.version is null: a delete carries the old row's columns only with REPLICA "
       "IDENTITY FULL"},
      // A row without identity is reported as such, before its version.
      {opt(pg_event("c", "null", R"({"note":"x"})")), std::nullopt, col, "key is missing"},
      {opt(pg_event("c", "null", "null")), std::nullopt, lsn, "key is missing"},
      {opt(pg_event("d", R"({"id":7,"version":9223372036854775807})", "null")), key7, col,
       "before.version is the largest int64"},
      // The id.
      {opt(pg_event("c", "null", row)), std::nullopt, lsn,
       "key is missing: the table [public.items] has no primary key"},
      {opt(pg_event("c", "null", row)), opt(""), lsn, "key is missing"},
      {opt(pg_event("c", "null", row)), opt(wrapped("null")), lsn, "key is missing"},
      {opt(pg_event("c", "null", row)), opt("7"), lsn, "key is not a JSON object"},
      {opt(pg_event("c", "null", row)), opt("{\"id\":"), lsn, "key is not valid JSON"},
      {opt(pg_event("c", "null", row)), opt("{}"), lsn, "key has no fields"},
      {opt(pg_event("c", "null", row)), opt(R"({"id":null})"), lsn, "key.id is null"},
      {opt(pg_event("c", "null", row)), opt(R"({"id":[1]})"), lsn,
       "key.id is not a string, number or boolean"},
      {opt(pg_event("c", "null", row)), opt(R"({"id":""})"), lsn,
       "the document id from the key is empty"},
      {opt(pg_event("c", "null", row)), opt(R"({"id":")" + std::string(513, 'x') + "\"}"),
       lsn, "the document id from the key is too long"},
    }));
  CAPTURE(value.value_or("<null>"), key.value_or("<null>"));
  auto t = translate(value, key, opts);
  CHECK_FALSE(t.tombstone);
  const auto r = reason(t);
  CHECK(t.result.invalid->error->type == "debezium_event_exception");
  CHECK(r.find(expected) == 0);
}

TEST_CASE("debezium: what could be read stays on an invalid event, for its dead letter") {
  auto t = translate(pg_event("u", "null", R"({"id":7,"version":null})"), key7,
                     with_version(version_source::column, "version"));
  REQUIRE(t.result.invalid);
  CHECK(t.result.parsed);
  CHECK(t.result.value.index == "items");
  CHECK(t.result.value.vtype == version_type::external);
  auto truncate = translate(pg_event("t", "null", "null"), std::nullopt);
  REQUIRE(truncate.result.invalid);
  CHECK(truncate.result.value.index == "items");
  auto unparsed = translate(std::string("nope"), key7);
  REQUIRE(unparsed.result.invalid);
  CHECK_FALSE(unparsed.result.parsed);
}

TEST_CASE("debezium: hostile values are answered, never thrown") {
  std::string deep = R"({"op":"c","after":)";
  for (int i = 0; i < 2000; ++i)
    deep += "[";
  auto t = translate(deep, key7);
  CHECK(reason(t).find("failed to parse JSON") == 0);
  debezium_translator small{debezium_options{}};
  record_context ctx;
  ctx.key = key7;
  ctx.max_bytes = 16;
  auto big = small.translate(pg_event("c", "null", row), ctx);
  REQUIRE(big.result.invalid);
  CHECK(big.result.invalid->error->reason.find("exceeds the limit of 16 bytes")
        != std::string::npos);
  // A long field name is cut in the reason.
  auto longname = translate(pg_event("u", "null", R"({"id":7})"), key7,
                            with_version(version_source::column, std::string(300, 'c')));
  CHECK(reason(longname).size() < 200);
}

TEST_CASE("debezium: one translator reads record after record") {
  debezium_translator t{with_version(version_source::column, "version")};
  record_context ctx;
  ctx.key = key7;
  for (int i = 0; i < 3; ++i) {
    auto ok = t.translate(pg_event("u", "null", row), ctx);
    REQUIRE_FALSE(ok.result.invalid);
    CHECK(ok.result.value.source == row);
    auto bad = t.translate(std::string("{"), ctx);
    CHECK(bad.result.invalid);
    auto gone = t.translate(std::nullopt, ctx);
    CHECK(gone.tombstone);
  }
}

TEST_CASE("debezium: configuration values") {
  CHECK(parse_index_source("table") == index_source::table);
  CHECK(parse_index_source("schema.table") == index_source::schema_table);
  CHECK(parse_index_source("fixed") == index_source::fixed);
  CHECK_FALSE(parse_index_source("db.table"));
  version_source v;
  std::string column = "stale";
  CHECK(parse_version_source("source.lsn", v, column));
  CHECK(v == version_source::lsn);
  CHECK(column.empty());
  CHECK(parse_version_source("source.ts_ms", v, column));
  CHECK(v == version_source::ts_ms);
  CHECK(parse_version_source("column:updated_at", v, column));
  CHECK(v == version_source::column);
  CHECK(column == "updated_at");
  CHECK_FALSE(parse_version_source("column:", v, column));
  CHECK_FALSE(parse_version_source("lsn", v, column));
  CHECK(parse_debezium_version_type("external") == version_type::external);
  CHECK(parse_debezium_version_type("external_gte") == version_type::external_gte);
  CHECK_FALSE(parse_debezium_version_type("internal"));
}

TEST_CASE("input formats: each topic is read in its own format") {
  input_formats f;
  f.by_topic["cdc"] = input_format::debezium;
  CHECK(f.uses(input_format::debezium));
  CHECK(f.uses(input_format::mutation));
  record_decoder decoder{f};
  record_context ctx;
  ctx.key = key7;
  auto cdc = decoder.decode("cdc", pg_event("c", "null", row), ctx);
  REQUIRE_FALSE(cdc.result.invalid);
  CHECK(cdc.result.value.id == "7");
  CHECK(decoder.decode("cdc", std::nullopt, ctx).skip);
  // The same bytes on a mutation topic are no mutation (no id field).
  auto plain = decoder.decode("orders", pg_event("c", "null", row), ctx);
  CHECK(plain.result.invalid);
  // A null value there is an empty record: invalid, not skipped.
  auto null_value = decoder.decode("orders", std::nullopt, ctx);
  CHECK_FALSE(null_value.skip);
  CHECK(null_value.result.invalid);
  ctx.key = std::string_view("m1");
  auto mutation = decoder.decode("orders", std::string(R"({"id":"m1","doc":{}})"), ctx);
  CHECK_FALSE(mutation.result.invalid);
  CHECK(parse_input_format("debezium") == input_format::debezium);
  CHECK(parse_input_format("mutation") == input_format::mutation);
  CHECK_FALSE(parse_input_format("avro"));
}

// The codec: validation in semantics.md's order with the exact messages,
// byte-exact sources, and bad input of every kind answered, never thrown.

#include <catch2/catch.hpp>

#include <string>

#include "engine/mutation_parser.hpp"

using namespace wcoord;

namespace {

parse_result parse(const std::string& text, record_context ctx = {}) {
  static mutation_parser parser;
  return parser.parse(text, ctx);
}

std::string reason_of(const std::string& text) {
  auto r = parse(text);
  REQUIRE(r.invalid);
  return r.invalid->error->reason;
}

std::string type_of(const std::string& text) {
  auto r = parse(text);
  REQUIRE(r.invalid);
  return r.invalid->error->type;
}

} // namespace

TEST_CASE("a full mutation parses with every field") {
  auto r = parse(R"({"op":"create","index":"web","id":"a1","version_type":"internal",)"
                 R"("doc":{"t":"x"},"timestamp":1700000000123,"extra":[1,{"z":null}]})");
  REQUIRE_FALSE(r.invalid);
  CHECK(r.value.op == op_type::create);
  CHECK(r.value.index == "web");
  CHECK(r.value.id == "a1");
  CHECK(r.value.source == R"({"t":"x"})");
  CHECK(r.value.timestamp == 1700000000123);
  CHECK_FALSE(r.value.version);
}

TEST_CASE("defaults: op index, internal, default index, record timestamp") {
  record_context ctx;
  ctx.default_index = "orders";
  ctx.record_timestamp = 42;
  auto r = parse(R"({"id":"x","doc":{}})", ctx);
  REQUIRE_FALSE(r.invalid);
  CHECK(r.value.op == op_type::index);
  CHECK(r.value.vtype == version_type::internal);
  CHECK(r.value.index == "orders");
  CHECK(r.value.timestamp == 42);
}

TEST_CASE("the doc source is kept byte-exact") {
  const std::string doc = "{ \"b\" : [1, 2.50, \"\\u00e9\\n\"],\n \"a\":{\"deep\":{}} ,\"c\":\"}\" }";
  auto r = parse("{\"id\":\"x\",\"doc\":" + doc + "  , \"version\": 3}");
  REQUIRE_FALSE(r.invalid);
  CHECK(r.value.source == doc);
  CHECK(*r.value.version == 3);
  auto last = parse("{\"id\":\"x\",\"doc\":" + doc + "}");
  CHECK(last.value.source == doc);
}

TEST_CASE("external_gt is an alias of external") {
  auto r = parse(R"({"id":"x","doc":{},"version_type":"external_gt","version":4})");
  REQUIRE_FALSE(r.invalid);
  CHECK(r.value.vtype == version_type::external);
  CHECK(reason_of(R"({"id":"x","doc":{},"version_type":"external_gt"})")
        == "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];");
}

TEST_CASE("validation rows, in order, with their messages") {
  CHECK(type_of(R"({"op":"upsert","id":"x","doc":{}})") == "illegal_argument_exception");
  CHECK(type_of(R"({"op":7,"id":"x","doc":{}})") == "illegal_argument_exception");
  // VersionType.fromString throws an IllegalArgumentException: its message
  // is the reason, not wrapped in "Validation Failed" (issue 9).
  CHECK(reason_of(R"({"id":"x","doc":{},"version_type":"force"})")
        == "No version type match [force]");
  CHECK(type_of(R"({"id":"x","doc":{},"version_type":"force"})")
        == "illegal_argument_exception");
  // op is checked before version_type, which is checked before id.
  CHECK(type_of(R"({"op":"bad","version_type":"force"})") == "illegal_argument_exception");
  CHECK(reason_of(R"({"version_type":"force"})") == "No version type match [force]");
  CHECK(reason_of(R"({"doc":{}})") == "Validation Failed: 1: id is missing;");
  CHECK(reason_of(R"({"id":"","doc":{}})") == "Validation Failed: 1: id is missing;");
  CHECK(reason_of(R"({"id":17,"doc":{}})") == "Validation Failed: 1: id is missing;");
  CHECK(type_of(R"({"id":"x","doc":{},"version":"3"})") == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"x","doc":{},"version":1.5})") == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"x","doc":{},"version":9223372036854775808})")
        == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"x","doc":{},"version":-9223372036854775809})")
        == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"x","doc":{},"version":null})") == "illegal_argument_exception");
  CHECK(reason_of(R"({"op":"create","id":"x","doc":{},"version_type":"external","version":2})")
        == "Validation Failed: 1: create operations only support internal versioning. use index instead;");
  CHECK(reason_of(R"({"op":"create","id":"x","doc":{},"version":2})")
        == "Validation Failed: 1: create operations do not support explicit versions. use index instead;");
  CHECK(reason_of(R"({"id":"x","doc":{},"version":0})")
        == "Validation Failed: 1: illegal version value [0] for version type [INTERNAL];");
  CHECK(reason_of(R"({"id":"x","doc":{},"version":-5})")
        == "Validation Failed: 1: illegal version value [-5] for version type [INTERNAL];");
  CHECK(reason_of(R"({"id":"x","doc":{},"version_type":"external"})")
        == "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];");
  CHECK(reason_of(R"({"id":"x","doc":{},"version_type":"external_gte","version":-1})")
        == "Validation Failed: 1: illegal version value [-1] for version type [EXTERNAL_GTE];");
  CHECK(reason_of(R"({"id":"x"})") == "Validation Failed: 1: source is missing;");
  CHECK(reason_of(R"({"id":"x","doc":[1]})") == "Validation Failed: 1: source is missing;");
  CHECK(reason_of(R"({"id":"x","doc":"text"})") == "Validation Failed: 1: source is missing;");
  CHECK(type_of("{\"id\":\"" + std::string(513, 'a') + "\",\"doc\":{}}")
        == "action_request_validation_exception");
  CHECK_FALSE(parse("{\"id\":\"" + std::string(512, 'a') + "\",\"doc\":{}}").invalid);
}

TEST_CASE("deletes need no doc; external deletes need a version") {
  CHECK_FALSE(parse(R"({"op":"delete","id":"x"})").invalid);
  CHECK(reason_of(R"({"op":"delete","id":"x","version_type":"external"})")
        == "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];");
}

TEST_CASE("the record key must match the id") {
  record_context ctx;
  std::string_view key = "other";
  ctx.key = key;
  auto r = parse(R"({"id":"x","doc":{}})", ctx);
  REQUIRE(r.invalid);
  CHECK(r.invalid->status == 400);
  key = "x";
  ctx.key = key;
  CHECK_FALSE(parse(R"({"id":"x","doc":{}})", ctx).invalid);
}

TEST_CASE("bad input of every kind is a 400, never an exception") {
  const std::string cases[] = {
    "",
    "   ",
    "not json at all",
    "[1,2,3]",
    "\"a string\"",
    "42",
    "null",
    R"({"id":"x","doc":{"a":1})",                 // truncated
    R"({"id":"x","doc":{"a":}})",                 // malformed inside doc
    R"({"id":"x","doc":{"a":1}} trailing)",       // trailing content
    R"({"id":"x","doc":{"a":1}}{"id":"y"})",      // two objects
    "{\"id\":\"x\",\"doc\":{\"a\":\"\xff\xfe\"}}", // invalid UTF-8
    "{\"id\":\"\xc3\x28\",\"doc\":{}}",           // invalid UTF-8 in the id
    R"({"id":"x","doc":{"n":1e999999}})",          // number out of range
    R"({"id":"x","doc":{},"timestamp":"yesterday"})",
    R"({"id":"x","doc":{},"index":["a"]})",
    std::string("{\"id\":\"x\",\"doc\":") + std::string(100000, '[')
      + std::string(100000, ']') + "}", // deep nesting
  };
  for (const auto& text : cases) {
    INFO(text.substr(0, 80));
    auto r = parse(text);
    REQUIRE(r.invalid);
    CHECK(r.invalid->status == 400);
    CHECK(r.invalid->kind == outcome::invalid);
    CHECK_FALSE(r.invalid->error->reason.empty());
  }
}

TEST_CASE("a 10 MB record is refused by size, a large one within the limit works") {
  std::string big = "{\"id\":\"x\",\"doc\":{\"blob\":\"" + std::string(10 << 20, 'a') + "\"}}";
  auto r = parse(big);
  REQUIRE(r.invalid);
  CHECK(r.invalid->error->type == "parse_exception");
  CHECK_FALSE(r.parsed);
  record_context roomy;
  roomy.max_bytes = 16 << 20;
  auto ok = parse(big, roomy);
  CHECK_FALSE(ok.invalid);
  CHECK(ok.value.source.size() == (10u << 20) + 11); // {"blob":"…"};
}

TEST_CASE("unknown fields are ignored") {
  auto r = parse(R"({"id":"x","doc":{},"whatever":{"deep":[1,2]},"other":null})");
  REQUIRE_FALSE(r.invalid);
  CHECK(r.value.id == "x");
}

TEST_CASE("duplicate keys anywhere are a 400, as Elasticsearch's strict parser answers") {
  auto dup = [](const std::string& text) {
    auto r = parse(text);
    INFO(text.substr(0, 120));
    REQUIRE(r.invalid);
    CHECK(r.invalid->status == 400);
    CHECK(r.invalid->error->type == "x_content_parse_exception");
    CHECK_FALSE(r.parsed); // nothing read from it is trusted
    return r.invalid->error->reason;
  };
  // Jackson reports the position just past the second name (1-based).
  CHECK(dup(R"({"id":"a","id":"b","doc":{}})") == "[1:15] Duplicate field 'id'");
  CHECK(dup(R"({"id":"a","version":1,"version":2,"doc":{}})")
        == "[1:32] Duplicate field 'version'");
  CHECK(dup(R"({"id":"a","doc":{},"doc":{}})") == "[1:25] Duplicate field 'doc'");
  CHECK(dup("{\"id\":\"a\",\n \"doc\":{\"n\":1,\n  \"n\":2}}") == "[3:6] Duplicate field 'n'");
  // Inside doc, at any depth, in arrays, in fields wcoord ignores.
  dup(R"({"id":"a","doc":{"x":{"y":1,"z":{"q":1,"q":1}}}})");
  dup(R"({"id":"a","doc":{"list":[{"k":1},{"k":1,"k":2}]}})");
  dup(R"({"id":"a","doc":{},"meta":{"a":1,"a":1}})");
  dup(R"({"op":{"a":1,"a":2},"id":"a","doc":{}})");
  // Equal once unescaped.
  CHECK(dup(R"({"id":"a","doc":{"a":1,"\u0061":2}})") == "[1:32] Duplicate field 'a'");
  // A large object (past the linear scan) still finds its duplicate.
  std::string many = "{\"id\":\"a\",\"doc\":{";
  for (int i = 0; i < 1000; ++i)
    many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK_FALSE(parse(many + "\"end\":0}}").invalid);
  CHECK(dup(many + "\"k999\":0}}").find("Duplicate field 'k999'") != std::string::npos);
  CHECK(dup(many + "\"k3\":0}}").find("Duplicate field 'k3'") != std::string::npos);
  // Around the switch from the linear run to a hash set (32 keys).
  for (int n : {31, 32, 33, 40}) {
    std::string obj = "{\"id\":\"a\",\"doc\":{";
    for (int i = 0; i < n; ++i)
      obj += "\"f" + std::to_string(i) + "\":0,";
    CHECK_FALSE(parse(obj + "\"last\":1}}").invalid);
    CHECK(dup(obj + "\"f0\":1}}").find("Duplicate field 'f0'") != std::string::npos);
    CHECK(dup(obj + "\"f" + std::to_string(n - 1) + "\":1}}").find("Duplicate field") != std::string::npos);
  }
  // Deep nesting with several keys per level (more runs than the stack
  // first holds), a duplicate at the bottom, and the same names at every level.
  std::string deep = "{\"id\":\"a\",\"doc\":";
  for (int i = 0; i < 200; ++i)
    deep += "{\"a\":1,\"b\":2,\"c\":";
  std::string tail;
  for (int i = 0; i < 200; ++i)
    tail += "}";
  CHECK_FALSE(parse(deep + "{\"a\":1}" + tail + "}").invalid);
  CHECK(dup(deep + "{\"a\":1,\"a\":2}" + tail + "}").find("Duplicate field 'a'")
        != std::string::npos);
  // Empty names count too.
  CHECK(dup(R"({"id":"a","doc":{"":1,"":2}})") == "[1:25] Duplicate field ''");
  // A long name is quoted cut.
  const std::string name(5000, 'n');
  auto reason = dup("{\"id\":\"a\",\"doc\":{\"" + name + "\":1,\"" + name + "\":2}}");
  CHECK(reason.size() < 400);

  // The same name in different objects is no duplicate.
  auto ok = parse(R"({"id":"a","doc":{"id":"x","doc":{"id":"y"},"l":[{"id":1},{"id":2}]},)"
                  R"("extra":{"id":{"id":0}}})");
  CHECK_FALSE(ok.invalid);
  CHECK(ok.value.id == "a");
  // Keys of a closed nested object do not leak into its parent.
  CHECK_FALSE(parse(R"({"doc":{"a":{"b":1},"b":2},"b":{"id":3},"id":"a"})").invalid);
}

TEST_CASE("a number JSON refuses is a parse error in every field") {
  // `07` looks like an integer to a scan; it is not JSON (issue 8).
  for (const char* text : {R"({"id":"a","version":07,"doc":{}})",
                           R"({"id":"a","version":-07,"doc":{}})",
                           R"({"id":"a","timestamp":01,"doc":{}})",
                           R"({"id":"a","version":1.,"doc":{}})",
                           R"({"id":"a","doc":{"n":07}})",
                           R"({"id":"a","doc":{},"x":00})"}) {
    INFO(text);
    auto r = parse(text);
    REQUIRE(r.invalid);
    CHECK(r.invalid->error->type == "parse_exception");
    CHECK_FALSE(r.parsed);
  }
  // Still valid: integers past int64 and floats are wrong types, not bad JSON.
  CHECK(type_of(R"({"id":"a","version":99999999999999999999,"doc":{}})")
        == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"a","version":1.5,"doc":{}})") == "illegal_argument_exception");
  CHECK(type_of(R"({"id":"a","version":0.7e1,"doc":{}})") == "illegal_argument_exception");
}

TEST_CASE("field names quoted in reasons are cut") {
  const std::string name(1 << 20, 'k');
  auto reason = reason_of("{\"id\":\"a\",\"doc\":{},\"" + name + "\":[1,}");
  CHECK(reason.size() < 400);
}

TEST_CASE("an id over 512 bytes is refused with Elasticsearch's message") {
  const std::string id(513, 'a');
  CHECK(reason_of("{\"id\":\"" + id + "\",\"doc\":{}}")
        == "Validation Failed: 1: id [" + id
             + "] is too long, must be no longer than 512 bytes but was: 513;");
}

TEST_CASE("illegal arguments answer with their message, never wrapped") {
  struct row {
    const char* input;
    const char* reason;
  };
  const row rows[] = {
    {R"({"op":"upsert","id":"x","doc":{}})",
     "unknown op [upsert], expected one of [index, create, delete]"},
    {R"({"id":"x","doc":{},"version_type":"force"})", "No version type match [force]"},
    {R"({"id":"x","doc":{},"version_type":"EXTERNAL"})", "No version type match [EXTERNAL]"},
    {R"({"id":"x","doc":{},"version":"3"})",
     "version must be an integer in the int64 range, found [\"3\"]"},
    {R"({"id":"x","doc":{},"index":7})", "index must be a non-empty string"},
    {R"({"id":"x","doc":{},"timestamp":"now"})",
     "timestamp must be an integer (epoch milliseconds)"},
  };
  for (const auto& r : rows) {
    INFO(r.input);
    auto p = parse(r.input);
    REQUIRE(p.invalid);
    CHECK(p.invalid->status == 400);
    CHECK(p.invalid->error->type == "illegal_argument_exception");
    CHECK(p.invalid->error->reason == r.reason);
  }
}

TEST_CASE("index names follow Elasticsearch's rules, with its reasons") {
  struct row {
    std::string index;
    const char* why; // nullptr: valid
  };
  const std::string forbidden = "must not contain the following characters "
                                "[ , \", *, \\, <, |, ,, >, /, ?]";
  const row rows[] = {
    {"orders", nullptr},
    {"orders-2024.01", nullptr},
    {".hidden", nullptr},
    {"a..b", nullptr},
    {"caf\u00e9", nullptr},         // é is lowercase
    {"a\u0000b", nullptr},          // NUL is no rule of Elasticsearch's
    {std::string(255, 'a'), nullptr},
    {"Orders", "must be lowercase"},
    {"caf\u00c9", "must be lowercase"}, // É
    {"\u03a3", "must be lowercase"},    // Greek capital sigma
    {"a\\\\b", forbidden.c_str()}, // a JSON-escaped backslash
    {"a/b", forbidden.c_str()},
    {"a*b", forbidden.c_str()},
    {"a?b", forbidden.c_str()},
    {"a\\\"b", forbidden.c_str()},  // a JSON-escaped quote
    {"a<b", forbidden.c_str()},
    {"a>b", forbidden.c_str()},
    {"a|b", forbidden.c_str()},
    {"a b", forbidden.c_str()},
    {"a,b", forbidden.c_str()},
    {"A b", forbidden.c_str()}, // characters are checked before case
    {"a#b", "must not contain '#'"},
    {"a:b", "must not contain ':'"},
    {"_a", "must not start with '_', '-', or '+'"},
    {"-a", "must not start with '_', '-', or '+'"},
    {"+a", "must not start with '_', '-', or '+'"},
    {".", "must not be '.' or '..'"},
    {"..", "must not be '.' or '..'"},
    {std::string(256, 'a'), "index name is too long, (256 > 255)"},
    {std::string(128, 'a') + "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
       + std::string(120, 'a'), "index name is too long, (264 > 255)"},
  };
  for (const auto& r : rows) {
    INFO(r.index);
    auto p = parse(R"({"id":"x","doc":{},"index":")" + r.index + "\"}");
    if (!r.why) {
      CHECK_FALSE(p.invalid);
      continue;
    }
    REQUIRE(p.invalid);
    CHECK(p.invalid->status == 400);
    CHECK(p.invalid->error->type == "invalid_index_name_exception");
    CHECK(p.invalid->error->reason
          == "Invalid index name [" + p.value.index + "], " + r.why);
  }
  // The default index is checked the same way (the topic name in `run`).
  record_context ctx;
  ctx.default_index = "Orders";
  auto p = parse(R"({"id":"x","doc":{}})", ctx);
  REQUIRE(p.invalid);
  CHECK(p.invalid->error->reason == "Invalid index name [Orders], must be lowercase");
}

TEST_CASE("a name found valid is remembered, a refused one is refused every time") {
  mutation_parser parser;
  record_context ctx;
  ctx.default_index = "orders";
  for (int i = 0; i < 2; ++i) {
    CHECK_FALSE(parser.parse(R"({"id":"x","doc":{}})", ctx).invalid);
    auto bad = parser.parse(R"({"id":"x","index":"Bad","doc":{}})", ctx);
    REQUIRE(bad.invalid);
    CHECK(bad.invalid->error->reason == "Invalid index name [Bad], must be lowercase");
    CHECK_FALSE(parser.parse(R"({"id":"x","index":"other","doc":{}})", ctx).invalid);
  }
}

TEST_CASE("json_text says the whole value was read as JSON") {
  CHECK(parse(R"({"id":"a","doc":{"n":[1,{"x":null}]}})").json_text);
  // Read whole, then refused by validation: still JSON text.
  CHECK(parse(R"({"id":"a","op":"create","version":3,"doc":{}})").json_text);
  CHECK(parse(R"({"id":"a","unknown":[1,2]})").json_text);
  // Not read whole.
  CHECK_FALSE(parse(R"({"id":"a","doc":{"broken":)").json_text);
  CHECK_FALSE(parse(R"({"id":"a","doc":{}} trailing)").json_text);
  CHECK_FALSE(parse(R"({"id":"a","id":"b"})").json_text);
  CHECK_FALSE(parse(R"({"version":07})").json_text);
  CHECK_FALSE(parse("[1]").json_text);
  record_context small;
  small.max_bytes = 4;
  CHECK_FALSE(parse(R"({"id":"a"})", small).json_text);
}

TEST_CASE("compare-and-set fields: Elasticsearch's validation, row by row") {
  struct row {
    const char* input;
    const char* type;   // nullptr: valid
    const char* reason;
  };
  const char* arve = "action_request_validation_exception";
  const char* iae = "illegal_argument_exception";
  const row rows[] = {
    {R"({"id":"x","doc":{},"if_seq_no":0,"if_primary_term":1})", nullptr, ""},
    {R"({"op":"delete","id":"x","if_seq_no":5,"if_primary_term":3})", nullptr, ""},
    // -2 and 0 are Elasticsearch's "unassigned": as if absent.
    {R"({"id":"x","doc":{},"if_seq_no":-2})", nullptr, ""},
    {R"({"id":"x","doc":{},"if_primary_term":0})", nullptr, ""},
    {R"({"op":"create","id":"x","doc":{},"if_primary_term":0,"if_seq_no":-2})", nullptr, ""},
    // Malformed values (wcoord refuses what Elasticsearch would coerce).
    {R"({"id":"x","doc":{},"if_seq_no":"1","if_primary_term":1})", iae,
     "if_seq_no must be an integer in the int64 range, found [\"1\"]"},
    {R"({"id":"x","doc":{},"if_seq_no":1,"if_primary_term":1.5})", iae,
     "if_primary_term must be an integer in the int64 range, found [1.5]"},
    {R"({"id":"x","doc":{},"if_seq_no":9223372036854775808,"if_primary_term":1})", iae,
     "if_seq_no must be an integer in the int64 range, found [9223372036854775808]"},
    // IndexRequest/DeleteRequest.setIfSeqNo and setIfPrimaryTerm.
    {R"({"id":"x","doc":{},"if_seq_no":-1,"if_primary_term":1})", iae,
     "sequence numbers must be non negative. got [-1]."},
    {R"({"id":"x","doc":{},"if_seq_no":-3,"if_primary_term":-1})", iae,
     "sequence numbers must be non negative. got [-3]."},
    {R"({"id":"x","doc":{},"if_seq_no":1,"if_primary_term":-1})", iae,
     "primary term must be non negative. got [-1]"},
    // IndexRequest.validate: create returns before the common checks.
    {R"({"op":"create","id":"x","doc":{},"if_seq_no":1,"if_primary_term":1})", arve,
     "Validation Failed: 1: create operations do not support compare and set. use index "
     "instead;"},
    {R"({"op":"create","id":"x","doc":{},"if_primary_term":4})", arve,
     "Validation Failed: 1: create operations do not support compare and set. use index "
     "instead;"},
    {R"({"op":"create","id":"x","doc":{},"if_seq_no":1,"version":2})", arve,
     "Validation Failed: 1: create operations do not support explicit versions. use index "
     "instead;"},
    // DocWriteRequest.validateSeqNoBasedCASParams, every message it adds.
    {R"({"id":"x","doc":{},"if_seq_no":1,"if_primary_term":1,"version":3})", arve,
     "Validation Failed: 1: compare and write operations can not use versioning;"},
    {R"({"id":"x","doc":{},"if_seq_no":1,"if_primary_term":1,"version_type":"external",)"
     R"("version":3})", arve,
     "Validation Failed: 1: compare and write operations can not use versioning;"},
    {R"({"op":"delete","id":"x","if_seq_no":1,"if_primary_term":1,)"
     R"("version_type":"external_gte","version":3})", arve,
     "Validation Failed: 1: compare and write operations can not use versioning;"},
    {R"({"id":"x","doc":{},"if_seq_no":1})", arve,
     "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"},
    {R"({"id":"x","doc":{},"if_seq_no":1,"if_primary_term":0})", arve,
     "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"},
    {R"({"id":"x","doc":{},"if_primary_term":2})", arve,
     "Validation Failed: 1: ifSeqNo is unassigned, but primary term is [2];"},
    {R"({"op":"delete","id":"x","if_seq_no":-2,"if_primary_term":2})", arve,
     "Validation Failed: 1: ifSeqNo is unassigned, but primary term is [2];"},
    // Several at once, numbered, as ActionRequestValidationException lists them.
    {R"({"id":"x","doc":{},"version_type":"external","if_seq_no":1})", arve,
     "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];"
     "2: compare and write operations can not use versioning;"
     "3: ifSeqNo is set, but primary term is [0];"},
    {R"({"id":"x","doc":{},"version":3,"if_seq_no":4})", arve,
     "Validation Failed: 1: compare and write operations can not use versioning;"
     "2: ifSeqNo is set, but primary term is [0];"},
    // Order: an earlier row answers first.
    {R"({"id":"","if_seq_no":-1})", arve, "Validation Failed: 1: id is missing;"},
    {R"({"id":"x","if_seq_no":1,"if_primary_term":1})", arve,
     "Validation Failed: 1: source is missing;"},
  };
  for (const auto& r : rows) {
    INFO(r.input);
    auto p = parse(r.input);
    if (!r.type) {
      CHECK_FALSE(p.invalid);
      continue;
    }
    REQUIRE(p.invalid);
    CHECK(p.invalid->status == 400);
    CHECK(p.invalid->error->type == r.type);
    CHECK(p.invalid->error->reason == r.reason);
  }
  auto ok = parse(R"({"id":"x","doc":{},"if_seq_no":0,"if_primary_term":7})");
  REQUIRE(ok.value.if_seq_no);
  CHECK(*ok.value.if_seq_no == 0);
  CHECK(ok.value.if_primary_term == 7);
  CHECK_FALSE(parse(R"({"id":"x","doc":{},"if_seq_no":-2})").value.if_seq_no);
  // Duplicated, as any known field.
  CHECK(type_of(R"({"id":"x","doc":{},"if_seq_no":1,"if_seq_no":2,"if_primary_term":1})")
        == "x_content_parse_exception");
}

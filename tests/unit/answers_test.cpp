// Output shapes: every answer is valid JSON with the contract's fields.

#include <catch2/catch.hpp>

#include <simdjson.h>

#include "engine/answers.hpp"
#include "engine/json_writer.hpp"

using namespace wcoord;

namespace {

simdjson::dom::element parse_json(simdjson::dom::parser& p, const std::string& s) {
  simdjson::dom::element e;
  auto ec = p.parse(s).get(e);
  INFO(s);
  REQUIRE(ec == simdjson::SUCCESS);
  return e;
}

} // namespace

TEST_CASE("strings are escaped and invalid UTF-8 is replaced") {
  std::string out;
  json::append_string(out, "a\"b\\c\n\x01 \xc3\xa9 \xff \xed\xa0\x80 \xf0\x9f\x98\x80");
  CHECK(out == "\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\"");
}

TEST_CASE("bulk answers: applied, error, unparsed, missing id") {
  simdjson::dom::parser p;
  decision applied;
  applied.kind = outcome::applied;
  applied.status = 201;
  applied.result = write_result::created;
  applied.version = 1;
  auto a = parse_json(p, render_bulk_item({op_type::create, "idx", "id\"1", true, true}, applied));
  CHECK(int64_t(a["create"]["_version"]) == 1);
  CHECK(std::string_view(a["create"]["result"]) == "created");
  CHECK(std::string_view(a["create"]["_id"]) == "id\"1");

  auto bad = validation_failure("action_request_validation_exception", "id is missing");
  auto b = parse_json(p, render_bulk_item({op_type::remove, "idx", "", false, true}, bad));
  CHECK(b["delete"]["_id"].is_null());
  CHECK(std::string_view(b["delete"]["error"]["shard"]) == "0");
  CHECK(std::string_view(b["delete"]["outcome"]) == "invalid");

  auto c = parse_json(p, render_bulk_item({op_type::create, "", "", false, false},
                                          invalid_decision("parse_exception", "x")));
  CHECK(int64_t(c["index"]["status"]) == 400);
  CHECK(c["index"]["_index"].error() == simdjson::NO_SUCH_FIELD);
}

TEST_CASE("changelog values carry the source byte-exact, deletes none") {
  simdjson::dom::parser p;
  mutation m;
  m.index = "i";
  m.id = "d";
  m.source = R"({"z": [1, 2.50]})";
  m.timestamp = 77;
  decision d;
  d.kind = outcome::applied;
  d.result = write_result::updated;
  d.version = 4;
  auto text = render_changelog(m, d);
  CHECK(text.find(R"("_source":{"z": [1, 2.50]})") != std::string::npos);
  auto e = parse_json(p, text);
  CHECK(int64_t(e["_version"]) == 4);
  CHECK(int64_t(e["timestamp"]) == 77);
  m.op = op_type::remove;
  d.result = write_result::deleted;
  auto del = parse_json(p, render_changelog(m, d));
  CHECK(del["_source"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(std::string_view(del["result"]) == "deleted");
}

TEST_CASE("dead-letter values embed the original as JSON or as a string") {
  simdjson::dom::parser p;
  record_origin o{"muts", 3, 99, 1234};
  auto d = validation_failure("action_request_validation_exception", "id is missing");
  auto j = parse_json(p, render_dead_letter({op_type::index, "i", "", false, true}, d, o,
                                            R"({"doc":{}})", true));
  CHECK(int64_t(j["status"]) == 400);
  CHECK(std::string_view(j["error"]["shard"]) == "3");
  CHECK(int64_t(j["source"]["offset"]) == 99);
  CHECK(j["mutation"]["doc"].is_object());
  auto s = parse_json(p, render_dead_letter({op_type::index, "i", "", false, false}, d, o,
                                            "not \xff json", false));
  CHECK(std::string_view(s["mutation"]) == "not \xef\xbf\xbd json");
}

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
  applied.seq_no = 17;
  applied.primary_term = 1;
  auto a = parse_json(p, render_bulk_item({op_type::create, "idx", "id\"1", true, true}, applied));
  CHECK(int64_t(a["create"]["_version"]) == 1);
  CHECK(int64_t(a["create"]["_seq_no"]) == 17);
  CHECK(int64_t(a["create"]["_primary_term"]) == 1);
  CHECK(std::string_view(a["create"]["result"]) == "created");
  CHECK(std::string_view(a["create"]["_id"]) == "id\"1");

  auto bad = validation_failure("action_request_validation_exception", "id is missing");
  auto b = parse_json(p, render_bulk_item({op_type::remove, "idx", "", false, true}, bad));
  CHECK(b["delete"]["_id"].is_null());
  CHECK(std::string_view(b["delete"]["error"]["shard"]) == "0");
  CHECK(std::string_view(b["delete"]["outcome"]) == "invalid");
  CHECK(b["delete"]["_seq_no"].error() == simdjson::NO_SUCH_FIELD); // only applied writes

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
  d.seq_no = 90;
  d.primary_term = 1;
  auto text = render_changelog(m, d);
  CHECK(text.find(R"("_source":{"z": [1, 2.50]})") != std::string::npos);
  auto e = parse_json(p, text);
  CHECK(int64_t(e["_version"]) == 4);
  CHECK(int64_t(e["timestamp"]) == 77);
  CHECK(int64_t(e["_seq_no"]) == 90);
  CHECK(int64_t(e["_primary_term"]) == 1);
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
  auto j = render_dead_letter({op_type::index, "i", "", false, true}, d, o, R"({"doc":{}})",
                              1 << 20);
  CHECK_FALSE(j.mutation_truncated);
  auto je = parse_json(p, j.text);
  CHECK(int64_t(je["status"]) == 400);
  CHECK(std::string_view(je["error"]["shard"]) == "3");
  CHECK(int64_t(je["source"]["offset"]) == 99);
  CHECK(je["mutation"]["doc"].is_object());
  CHECK(je["mutation_truncated"].error() == simdjson::NO_SUCH_FIELD);
  auto s = parse_json(p, render_dead_letter({op_type::index, "i", "", false, false}, d, o,
                                            "not \xff json", 1 << 20)
                           .text);
  CHECK(std::string_view(s["mutation"]) == "not \xef\xbf\xbd json");
  // Valid JSON that is not an object is still JSON.
  auto a = parse_json(p, render_dead_letter({op_type::index, "i", "", false, false}, d, o,
                                            "[1, 2.5]", 1 << 20)
                           .text);
  CHECK(a["mutation"].is_array());
}

TEST_CASE("an original its parser read whole is embedded without a second check") {
  record_origin o{"muts", 3, 99, 1234};
  auto d = validation_failure("action_request_validation_exception", "id is missing");
  const std::string original = R"({"doc":{"a":[1,"\u00e9"]}})";
  auto checked = render_dead_letter({op_type::index, "i", "", false, true}, d, o, original,
                                    1 << 20);
  auto trusted = render_dead_letter({op_type::index, "i", "", false, true}, d, o, original,
                                    1 << 20, true);
  CHECK(trusted.text == checked.text);
  // Trust does not lift the size bound: a large original is still cut.
  auto cut = render_dead_letter({op_type::index, "i", "", false, true}, d, o,
                                std::string(40000, ' ') + "{}", 16 << 10, true);
  CHECK(cut.mutation_truncated);
}

TEST_CASE("strings without anything to escape are copied whole") {
  std::string out;
  json::append_string(out, "");
  json::append_string(out, "plain text, 100% ASCII");
  json::append_string(out, "\"edges\"");
  json::append_string(out, "\n");
  CHECK(out == "\"\"\"plain text, 100% ASCII\"\"\\\"edges\\\"\"\"\\n\"");
}

TEST_CASE("only a fully valid JSON original is embedded as JSON") {
  // The on-demand parser never reads a number it is not asked for; the
  // dead letter must not trust it (issue 8: `07` made the dead letter
  // itself invalid JSON).
  CHECK(is_json_text(R"({"id":"a","version":7,"doc":{"n":[1,2.5e3,"x",null,true]}})"));
  CHECK(is_json_text(" [1] "));
  CHECK(is_json_text("\"s\""));
  CHECK(is_json_text(R"({"id":"a","id":"b"})")); // duplicates are still JSON text
  // Any size of number is JSON, whatever a reader can hold.
  CHECK(is_json_text(R"({"version":99999999999999999999,"n":-1e999,"z":-0.0E+1})"));
  CHECK(is_json_text(R"(["\u00e9\"\\\/\b\f\n\r\t", {}, [], true, false, null])"));
  CHECK(is_json_text(std::string(512, '[') + std::string(512, ']')));
  CHECK_FALSE(is_json_text(std::string(513, '[') + std::string(513, ']')));
  for (const char* bad : {"[1.]", "[.5]", "[1e]", "[+1]", "[-]", "[1,]", "{\"a\"}", "{\"a\":1,}",
                          "[tru]", "[nul]", "{'a':1}", "[\"\\x\"]", "[\"\\u12g4\"]", "[\"\x01\"]",
                          "[1 2]", "{\"a\" 1}", "[", "]", "{\"a\":1"})
    CHECK_FALSE(is_json_text(bad));
  CHECK_FALSE(is_json_text(R"({"id":"a","version":07,"doc":{}})"));
  CHECK_FALSE(is_json_text(R"({"id":"a","doc":{"n":-01}})"));
  CHECK_FALSE(is_json_text(R"({"id":"a"} {"id":"b"})"));
  CHECK_FALSE(is_json_text("{\"id\":\"\xff\"}"));
  CHECK_FALSE(is_json_text(R"({"id":"a\x"})"));
  CHECK_FALSE(is_json_text(""));
  CHECK_FALSE(is_json_text("   "));

  simdjson::dom::parser p;
  const std::string bad = R"({"id":"a","version":07,"doc":{}})";
  auto dl = render_dead_letter({op_type::index, "default", "", false, false},
                               invalid_decision("parse_exception", "x"), {"t", 0, 5, 0}, bad,
                               1 << 20);
  auto e = parse_json(p, dl.text);
  CHECK(std::string_view(e["mutation"]) == bad);
}

namespace {

/// Checks what every dead letter must be: within its budget, valid JSON,
/// and, when cut, a valid prefix of the whole with the original's size.
/// Returns the decoded `mutation` string (empty if it was JSON).
std::string check_dead_letter(const std::string& original, size_t budget, bool expect_cut) {
  simdjson::dom::parser p;
  record_origin o{"topic", 0, 1, 2};
  auto dl = render_dead_letter({op_type::index, "default", "", false, false},
                               invalid_decision("parse_exception", "failed to parse JSON"), o,
                               original, budget);
  INFO("original of " << original.size() << " bytes, budget " << budget);
  CHECK(dl.text.size() <= budget);
  CHECK(dl.mutation_truncated == expect_cut);
  auto e = parse_json(p, dl.text);
  if (!expect_cut)
    return e["mutation"].is_string() ? std::string(std::string_view(e["mutation"])) : "";
  CHECK(bool(e["mutation_truncated"]));
  CHECK(uint64_t(e["mutation_bytes"]) == original.size());
  // The kept literal is what the whole one would have started with (inner
  // quotes are escaped, so the last `"mutation":` is the field).
  std::string whole;
  json::append_string(whole, original);
  constexpr std::string_view field = "\"mutation\":";
  auto at = dl.text.rfind(field) + field.size();
  std::string literal = dl.text.substr(at, dl.text.size() - at - 1);
  CHECK(whole.compare(0, literal.size() - 1, literal, 0, literal.size() - 1) == 0);
  return std::string(std::string_view(e["mutation"]));
}

} // namespace

TEST_CASE("a dead letter fits its budget whatever the original's size or bytes") {
  const size_t budget = (1 << 20) + (16 << 10);
  SECTION("300 KiB of 0xFF: six bytes each once escaped") {
    auto kept = check_dead_letter(std::string(300 << 10, '\xff'), budget, true);
    CHECK(kept.size() % 3 == 0); // whole U+FFFD, never a part of one
    CHECK(kept.size() / 3 <= dead_letter_limits::kept_original_bytes);
    CHECK(kept.size() > 0);
  }
  SECTION("a million 0x01 bytes") {
    auto kept = check_dead_letter(std::string(1000000, '\x01'), budget, true);
    CHECK(kept == std::string(kept.size(), '\x01'));
    CHECK(kept.size() == dead_letter_limits::kept_original_bytes);
  }
  SECTION("valid JSON larger than the budget is cut as a string") {
    std::string big = "{\"id\":\"x\",\"doc\":{\"b\":\"" + std::string(2 << 20, 'a') + "\"}}";
    auto kept = check_dead_letter(big, budget, true);
    CHECK(big.compare(0, kept.size(), kept) == 0);
  }
  SECTION("valid JSON of max.record.bytes fits whole, as JSON") {
    std::string near = "{\"id\":\"x\",\"doc\":{\"b\":\"" + std::string((1 << 20) - 40, 'a') + "\"}}";
    CHECK(check_dead_letter(near, budget, false).empty());
  }
  SECTION("a small budget cuts inside multi-byte text at sequence boundaries") {
    std::string text = "x";
    for (int i = 0; i < 20000; ++i)
      text += (i % 3 == 0) ? "\xc3\xa9" : (i % 3 == 1) ? "\xf0\x9f\x98\x80" : "\"\\\n\x01";
    for (size_t b : {dead_letter_limits::min_value_bytes, dead_letter_limits::min_value_bytes + 1,
                     dead_letter_limits::min_value_bytes + 2, dead_letter_limits::min_value_bytes + 3,
                     dead_letter_limits::min_value_bytes + 5})
      check_dead_letter(text, b, true);
  }
  SECTION("a budget below the minimum is raised to it") {
    auto dl = render_dead_letter({op_type::index, "i", "", false, false},
                                 invalid_decision("parse_exception", "x"), {"t", 0, 0, 0},
                                 std::string(100000, 'z'), 10);
    CHECK(dl.mutation_truncated);
    CHECK(dl.text.size() <= dead_letter_limits::min_value_bytes);
  }
  SECTION("random bytes of every size") {
    uint64_t x = 88172645463325252ull;
    for (size_t n : {0, 1, 100, 5000, 70000, 300000, 1500000}) {
      std::string bytes(n, '\0');
      for (auto& c : bytes) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>(x);
      }
      simdjson::dom::parser p;
      auto dl = render_dead_letter({op_type::index, "i", "", false, false},
                                   invalid_decision("parse_exception", "x"), {"t", 0, 0, 0},
                                   bytes, budget);
      CHECK(dl.text.size() <= budget);
      parse_json(p, dl.text);
    }
  }
}

TEST_CASE("a dead letter's envelope is bounded: reason, index") {
  simdjson::dom::parser p;
  const std::string huge(1 << 20, '\x01');
  auto d = invalid_decision("parse_exception", "failed at field [" + huge + "]");
  auto dl = render_dead_letter({op_type::index, std::string(1 << 20, 'i'), "", false, true}, d,
                               {"t", 0, 0, 0}, "{}", 64 << 10);
  CHECK(dl.text.size() <= 64 << 10);
  auto e = parse_json(p, dl.text);
  auto reason = std::string_view(e["error"]["reason"]);
  CHECK(reason.size() == dead_letter_limits::reason_bytes + 3);
  CHECK(reason.substr(reason.size() - 3) == "...");
  CHECK(std::string_view(e["error"]["index"]).size() == dead_letter_limits::index_bytes);
  CHECK(e["mutation"].is_object());
  // A reason is never cut inside a UTF-8 sequence.
  std::string accents;
  for (int i = 0; i < 1000; ++i)
    accents += "\xc3\xa9";
  auto r = dead_letter_reason("x" + accents);
  CHECK(r.size() == dead_letter_limits::reason_bytes - 1 + 3);
  CHECK(dead_letter_reason("short") == "short");
}

TEST_CASE("string prefixes end between whole units") {
  std::string out;
  CHECK(json::append_string_prefix(out, "abc", 5) == 3);
  CHECK(out == "\"abc\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "abc", 4) == 2);
  CHECK(out == "\"ab\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "a\x01", 8) == 1); // the escape takes 6
  CHECK(out == "\"a\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "a\x01", 9) == 2);
  CHECK(out == "\"a\\u0001\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "\xc3\xa9\xc3\xa9", 5) == 2);
  CHECK(out == "\"\xc3\xa9\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "\xc3\xa9\xc3\xa9", 100, 3) == 2); // input cap
  CHECK(out == "\"\xc3\xa9\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "\xff\xff", 9) == 1);
  CHECK(out == "\"\\ufffd\"");
  out.clear();
  CHECK(json::append_string_prefix(out, "x", 1) == 0);
  CHECK(out == "\"\"");

  CHECK(json::utf8_prefix("abc", 2) == "ab");
  CHECK(json::utf8_prefix("a\xc3\xa9", 2) == "a");
  CHECK(json::utf8_prefix("a\xf0\x9f\x98\x80z", 4) == "a");
  CHECK(json::utf8_prefix("a\xf0\x9f\x98\x80z", 5) == "a\xf0\x9f\x98\x80");
  CHECK(json::utf8_prefix("\x80\x80\x80\x80\x80", 4) == "\x80\x80\x80\x80");
}

TEST_CASE("original headers are kept in order within their bound") {
  std::vector<std::pair<std::string, std::string>> h{
    {"traceparent", "00-abc-def-01"},
    {"huge", std::string(1 << 20, 'h')},
    {"small", "s"},
  };
  CHECK(bound_headers(h, 1024) == 1);
  REQUIRE(h.size() == 2);
  CHECK(h[0].first == "traceparent");
  CHECK(h[1].first == "small");
  std::vector<std::pair<std::string, std::string>> many(100000, {"k", "v"});
  CHECK(bound_headers(many, 32 << 10) == 100000 - (32 << 10) / (2 + dead_letter_limits::header_framing_bytes));
}

// A changelog value reads back into the state it was rendered from (the
// restore path), source byte-exact; anything else is refused.

#include <catch2/catch.hpp>

#include "engine/answers.hpp"
#include "engine/changelog_record.hpp"

using namespace wcoord;

TEST_CASE("changelog values round-trip: live documents and tombstones") {
  mutation m;
  m.index = "i";
  m.id = "d\"1";
  m.source = R"({ "z": [1, 2.50], "s": "\u00e9" })";
  m.timestamp = 1234;
  decision d;
  d.kind = outcome::applied;
  d.result = write_result::updated;
  d.version = 7;
  auto e = parse_changelog(render_changelog(m, d));
  REQUIRE(e);
  CHECK(e->index == "i");
  CHECK(e->id == "d\"1");
  CHECK(e->state.state == document_state::kind::live);
  CHECK(e->state.version == 7);
  CHECK(e->state.source == m.source);

  m.op = op_type::remove;
  for (auto r : {write_result::deleted, write_result::not_found}) {
    d.result = r;
    auto t = parse_changelog(render_changelog(m, d));
    REQUIRE(t);
    CHECK(t->state.state == document_state::kind::tombstone);
    CHECK(t->state.delete_timestamp == 1234);
    CHECK(t->state.source.empty());
  }
}

TEST_CASE("what is not a changelog value is refused") {
  for (const char* bad : {"", "[]", "{}", "not json", R"({"_id":"x","_version":1})",
                          R"({"_index":"i","_id":"x","_version":1,"result":"created"})",
                          R"({"_index":"i","_id":"x","_version":"1","result":"deleted"})"}) {
    INFO(bad);
    CHECK_FALSE(parse_changelog(bad));
  }
}

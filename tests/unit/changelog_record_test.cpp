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
  d.seq_no = 41;
  d.primary_term = 1;
  auto e = parse_changelog(render_changelog(m, d));
  REQUIRE(e);
  CHECK(e->index == "i");
  CHECK(e->id == "d\"1");
  CHECK(e->state.state == document_state::kind::live);
  CHECK(e->state.version == 7);
  CHECK(e->state.seq_no == 41);
  CHECK(e->state.primary_term == 1);
  CHECK(e->state.source == m.source);

  m.op = op_type::remove;
  for (auto r : {write_result::deleted, write_result::not_found}) {
    d.result = r;
    auto t = parse_changelog(render_changelog(m, d));
    REQUIRE(t);
    CHECK(t->state.state == document_state::kind::tombstone);
    CHECK(t->state.delete_timestamp == 1234);
    CHECK(t->state.source.empty());
    CHECK(t->state.seq_no == 41);
  }
}

TEST_CASE("changelog records written before sequence numbers still read") {
  auto e = parse_changelog(
    R"({"_index":"i","_id":"x","_version":3,"result":"created","timestamp":5,"_source":{}})");
  REQUIRE(e);
  CHECK(e->state.version == 3);
  CHECK(e->state.seq_no == unassigned_seq_no);
  CHECK(e->state.primary_term == unassigned_primary_term);
}

TEST_CASE("the changelog key names the index and the id") {
  CHECK(changelog_key("orders", "o-1") == "orders/o-1");
  // Ids may hold '/', index names never do: the first '/' splits.
  CHECK(changelog_key("orders", "a/b") == "orders/a/b");
  // Same id in two indexes: two keys, so compaction keeps both documents.
  CHECK(changelog_key("a", "x") != changelog_key("b", "x"));
}

TEST_CASE("what is not a changelog value is refused") {
  for (const char* bad : {"", "[]", "{}", "not json", R"({"_id":"x","_version":1})",
                          R"({"_index":"i","_id":"x","_version":1,"result":"created"})",
                          R"({"_index":"i","_id":"x","_version":"1","result":"deleted"})"}) {
    INFO(bad);
    CHECK_FALSE(parse_changelog(bad));
  }
}

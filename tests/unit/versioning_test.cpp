// Every row of semantics.md's conflict and applying tables, plus the int64
// edges and event-time tombstones.

#include <catch2/catch.hpp>

#include <limits>

#include "engine/versioning.hpp"

using namespace wcoord;

namespace {

constexpr int64_t gc = 60000;
constexpr int64_t max64 = std::numeric_limits<int64_t>::max();

document_state missing() {
  return {};
}

document_state live(int64_t v) {
  document_state d;
  d.state = document_state::kind::live;
  d.version = v;
  d.source = R"({"old":true})";
  return d;
}

document_state tombstone(int64_t v, int64_t ts) {
  document_state d;
  d.state = document_state::kind::tombstone;
  d.version = v;
  d.delete_timestamp = ts;
  return d;
}

mutation make(op_type op, version_type vt, std::optional<int64_t> v,
              int64_t ts = 1000) {
  mutation m;
  m.op = op;
  m.vtype = vt;
  m.version = v;
  m.index = "i";
  m.id = "doc";
  m.source = R"({"new":true})";
  m.timestamp = ts;
  return m;
}

struct run_result {
  decision d;
  document_state next;
};

run_result run(const document_state& cur, const mutation& m) {
  run_result r;
  r.next = cur;
  r.d = decide(cur, m, gc, r.next);
  return r;
}

std::string reason(const decision& d) {
  return d.error ? d.error->reason : "";
}

} // namespace

TEST_CASE("create conflicts only with a live document") {
  auto m = make(op_type::create, version_type::internal, std::nullopt);
  auto r = run(live(3), m);
  CHECK(r.d.kind == outcome::conflict);
  CHECK(r.d.status == 409);
  CHECK(r.d.error->type == "version_conflict_engine_exception");
  CHECK(reason(r.d)
        == "[doc]: version conflict, document already exists (current version [3])");
  CHECK(r.next == live(3));

  r = run(missing(), m);
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.status == 201);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 1);

  // A tombstone counts as current: the new version follows it.
  r = run(tombstone(4, 1000), m);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 5);
}

TEST_CASE("internal without a version never conflicts") {
  auto m = make(op_type::index, version_type::internal, std::nullopt);
  auto r = run(missing(), m);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 1);
  r = run(live(7), m);
  CHECK(r.d.result == write_result::updated);
  CHECK(r.d.status == 200);
  CHECK(r.d.version == 8);
  CHECK(r.next.source == m.source);
}

TEST_CASE("internal with a version conflicts unless it equals current") {
  auto m = make(op_type::index, version_type::internal, 2);
  auto r = run(missing(), m);
  CHECK(r.d.kind == outcome::conflict);
  CHECK(reason(r.d)
        == "[doc]: version conflict, document does not exist (expected version [2])");
  r = run(live(3), m);
  CHECK(r.d.kind == outcome::conflict);
  CHECK(r.d.current_version == 3);
  CHECK(reason(r.d)
        == "[doc]: version conflict, current version [3] is different than the one provided [2]");
  r = run(live(2), m);
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.version == 3);
  r = run(tombstone(2, 1000), m);
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 3);
}

TEST_CASE("external wins only with a strictly higher version") {
  auto m = make(op_type::index, version_type::external, 5);
  auto r = run(missing(), m);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 5);
  r = run(live(5), m);
  CHECK(r.d.kind == outcome::stale);
  CHECK(r.d.status == 409);
  CHECK(reason(r.d)
        == "[doc]: version conflict, current version [5] is higher or equal to the one provided [5]");
  r = run(live(6), m);
  CHECK(r.d.kind == outcome::stale);
  r = run(live(4), m);
  CHECK(r.d.result == write_result::updated);
  CHECK(r.d.version == 5);
  // External version 0 on a missing document is fine.
  r = run(missing(), make(op_type::index, version_type::external, 0));
  CHECK(r.d.version == 0);
}

TEST_CASE("external_gte also accepts an equal version and rewrites") {
  auto m = make(op_type::index, version_type::external_gte, 5);
  auto r = run(live(5), m);
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.result == write_result::updated);
  CHECK(r.d.version == 5);
  CHECK(r.next.source == m.source);
  r = run(live(6), m);
  CHECK(r.d.kind == outcome::stale);
  CHECK(reason(r.d)
        == "[doc]: version conflict, current version [6] is higher than the one provided [5]");
}

TEST_CASE("a tombstone's version counts: a late lower external write is stale") {
  auto r = run(tombstone(9, 1000), make(op_type::index, version_type::external, 8, 2000));
  CHECK(r.d.kind == outcome::stale);
  r = run(tombstone(9, 1000), make(op_type::index, version_type::external, 10, 2000));
  CHECK(r.d.result == write_result::created);
}

TEST_CASE("tombstones expire by event time, strict greater-than") {
  auto m = make(op_type::index, version_type::external, 8, 1000 + gc);
  CHECK(run(tombstone(9, 1000), m).d.kind == outcome::stale); // age == gc
  m.timestamp = 1000 + gc + 1;
  auto r = run(tombstone(9, 1000), m); // age > gc: missing
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.result == write_result::created);
  CHECK(r.d.version == 8);
  // Internal writes after expiry start again at 1.
  r = run(tombstone(9, 1000), make(op_type::index, version_type::internal,
                                   std::nullopt, 1000 + gc + 1));
  CHECK(r.d.version == 1);
  // Event times at the int64 edges do not overflow.
  CHECK(effective_kind(tombstone(1, std::numeric_limits<int64_t>::min()), max64, gc)
        == document_state::kind::missing);
  CHECK(effective_kind(tombstone(1, max64), std::numeric_limits<int64_t>::min(), gc)
        == document_state::kind::tombstone);
}

TEST_CASE("delete: deleted when live, not_found otherwise, tombstone always") {
  auto m = make(op_type::remove, version_type::internal, std::nullopt, 5000);
  auto r = run(live(2), m);
  CHECK(r.d.result == write_result::deleted);
  CHECK(r.d.status == 200);
  CHECK(r.d.version == 3);
  CHECK(r.next.state == document_state::kind::tombstone);
  CHECK(r.next.delete_timestamp == 5000);
  CHECK(r.next.source.empty());

  r = run(missing(), m);
  CHECK(r.d.result == write_result::not_found);
  CHECK(r.d.status == 404);
  CHECK(r.d.kind == outcome::applied);
  CHECK(r.d.version == 1);
  // ... so a create after it gets version 2.
  auto c = run(r.next, make(op_type::create, version_type::internal, std::nullopt, 5001));
  CHECK(c.d.version == 2);

  r = run(tombstone(4, 4000), m);
  CHECK(r.d.result == write_result::not_found);
  CHECK(r.d.version == 5);

  // Versioned deletes follow the same conflict rules.
  r = run(live(7), make(op_type::remove, version_type::external, 7));
  CHECK(r.d.kind == outcome::stale);
  r = run(missing(), make(op_type::remove, version_type::internal, 17));
  CHECK(r.d.kind == outcome::conflict);
  r = run(live(3), make(op_type::remove, version_type::external_gte, 3));
  CHECK(r.d.result == write_result::deleted);
  CHECK(r.d.version == 3);
}

TEST_CASE("int64 edges: the largest version works, overflow is refused") {
  auto r = run(missing(), make(op_type::index, version_type::external, max64));
  CHECK(r.d.version == max64);
  r = run(live(max64 - 1), make(op_type::index, version_type::internal, std::nullopt));
  CHECK(r.d.version == max64);
  r = run(live(max64), make(op_type::index, version_type::internal, std::nullopt));
  CHECK(r.d.kind == outcome::invalid);
  CHECK(r.d.status == 400);
  CHECK(r.next == live(max64));
  r = run(live(max64), make(op_type::index, version_type::external_gte, max64));
  CHECK(r.d.kind == outcome::applied);
  r = run(live(max64), make(op_type::index, version_type::internal, max64));
  CHECK(r.d.kind == outcome::invalid);
}

TEST_CASE("outcome classes: 409s split into stale and conflict") {
  CHECK(run(live(2), make(op_type::index, version_type::internal, 1)).d.kind
        == outcome::conflict);
  CHECK(run(live(2), make(op_type::create, version_type::internal, std::nullopt)).d.kind
        == outcome::conflict);
  CHECK(run(live(2), make(op_type::index, version_type::external, 1)).d.kind
        == outcome::stale);
  CHECK(run(live(2), make(op_type::index, version_type::external_gte, 1)).d.kind
        == outcome::stale);
}

namespace {

document_state with_pair(document_state d, int64_t seq_no, int64_t term) {
  d.seq_no = seq_no;
  d.primary_term = term;
  return d;
}

mutation cas(op_type op, int64_t seq_no, int64_t term, int64_t ts = 1000) {
  auto m = make(op, version_type::internal, std::nullopt, ts);
  m.if_seq_no = seq_no;
  m.if_primary_term = term;
  return m;
}

} // namespace

TEST_CASE("compare-and-set: every row, with Elasticsearch's reasons") {
  struct row {
    const char* what;
    document_state current;
    op_type op;
    int64_t if_seq_no, if_term;
    int status;           // 409, or the applied status
    const char* reason;   // for 409s
  };
  const char* mismatch7 = "[doc]: version conflict, required seqNo [7], primary term [1]. "
                          "current document has seqNo [8] and primary term [1]";
  const row rows[] = {
    {"pair matches: index", with_pair(live(3), 7, 1), op_type::index, 7, 1, 200, ""},
    {"pair matches: delete", with_pair(live(3), 7, 1), op_type::remove, 7, 1, 200, ""},
    {"seq_no differs", with_pair(live(3), 8, 1), op_type::index, 7, 1, 409, mismatch7},
    {"seq_no differs: delete", with_pair(live(3), 8, 1), op_type::remove, 7, 1, 409, mismatch7},
    {"term differs", with_pair(live(3), 7, 1), op_type::index, 7, 2, 409,
     "[doc]: version conflict, required seqNo [7], primary term [2]. current document has "
     "seqNo [7] and primary term [1]"},
    {"missing", missing(), op_type::index, 0, 1, 409,
     "[doc]: version conflict, required seqNo [0], primary term [1]. but no document was found"},
    {"missing: delete", missing(), op_type::remove, 0, 1, 409,
     "[doc]: version conflict, required seqNo [0], primary term [1]. but no document was found"},
    // A deleted document counts as not found even with the tombstone's
    // own pair (InternalEngine: currentNotFoundOrDeleted).
    {"tombstone, its own pair", with_pair(tombstone(4, 900), 9, 1), op_type::index, 9, 1, 409,
     "[doc]: version conflict, required seqNo [9], primary term [1]. but no document was found"},
    {"expired tombstone", with_pair(tombstone(4, 1000 - gc - 1), 9, 1), op_type::remove, 9, 1,
     409,
     "[doc]: version conflict, required seqNo [9], primary term [1]. but no document was found"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    auto res = run(r.current, cas(r.op, r.if_seq_no, r.if_term));
    CHECK(res.d.status == r.status);
    if (r.status == 409) {
      CHECK(res.d.kind == outcome::conflict); // a lost race, dead-lettered
      CHECK(res.d.error->type == "version_conflict_engine_exception");
      CHECK(reason(res.d) == r.reason);
      CHECK(res.next == r.current);
    } else {
      CHECK(res.d.kind == outcome::applied);
      CHECK(res.d.version == 4); // internal: current + 1
    }
  }
}

TEST_CASE("decisions report the document's pair; assign_seq_no numbers a write") {
  auto doc = with_pair(live(3), 12, 1);
  auto conflict = run(doc, make(op_type::create, version_type::internal, std::nullopt));
  CHECK(conflict.d.current_seq_no == 12);
  CHECK(conflict.d.current_primary_term == 1);
  auto fresh = run(missing(), make(op_type::index, version_type::external, 5));
  CHECK(fresh.d.current_seq_no == unassigned_seq_no);
  CHECK(fresh.d.current_primary_term == unassigned_primary_term);
  // decide leaves the pair to the caller, who knows where it comes from.
  CHECK(fresh.d.seq_no == unassigned_seq_no);
  assign_seq_no(fresh.d, fresh.next, 30, 1);
  CHECK(fresh.d.seq_no == 30);
  CHECK(fresh.next.seq_no == 30);
  CHECK(fresh.next.primary_term == 1);
}

TEST_CASE("numbering by offset: never below the offset, always above the last") {
  CHECK(seq_no_for_offset(10, unassigned_seq_no) == 10);
  CHECK(seq_no_for_offset(0, unassigned_seq_no) == 0);
  CHECK(seq_no_for_offset(10, 4) == 10);
  CHECK(seq_no_for_offset(10, 10) == 11); // a second topic, same offset
  CHECK(seq_no_for_offset(3, 900) == 901); // a topic re-created from offset 0
}

// Both stores behave alike: atomic batches with offsets, reopen keeps
// state, sweeps drop only expired tombstones and replay markers.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <rocksdb/db.h>

#include "store/document_store.hpp"

using namespace wcoord;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "wcoord-store-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() { fs::remove_all(path); }
};

stored_document live(int64_t v, std::string src) {
  stored_document d;
  d.doc.state = document_state::kind::live;
  d.doc.version = v;
  d.doc.source = std::move(src);
  return d;
}

stored_document tomb(int64_t v, int64_t ts) {
  stored_document d;
  d.doc.state = document_state::kind::tombstone;
  d.doc.version = v;
  d.doc.delete_timestamp = ts;
  return d;
}

void exercise(document_store& s) {
  write_batch b;
  b.documents.push_back({{"i", "a"}, live(1, R"({"x":1})")});
  b.documents.push_back({{"i", "b"}, tomb(4, 1000)});
  b.documents.push_back({{"j", "a"}, live(9, "{}")});
  b.documents.push_back({{"i", "a"}, live(2, R"({"x":2})")}); // last wins
  stored_document marker;
  marker.last_source = {"t", 1};
  marker.last_offset = 5;
  b.documents.push_back({{"i", "never"}, marker});
  b.offsets[{"t", 1}] = 41;
  s.commit(b);
  auto a = s.load({"i", "a"});
  REQUIRE(a);
  CHECK(a->doc.version == 2);
  CHECK(a->doc.source == R"({"x":2})");
  CHECK(s.load({"i", "b"})->doc.state == document_state::kind::tombstone);
  CHECK(s.load({"j", "a"})->doc.version == 9);
  CHECK_FALSE(s.load({"i", "zzz"}));
  CHECK(*s.stored_offset({"t", 1}) == 41);
  CHECK_FALSE(s.stored_offset({"t", 2}));
  auto m = s.load({"i", "never"});
  REQUIRE(m);
  CHECK(m->last_offset == 5);
  CHECK(m->last_source == topic_partition{"t", 1});

  int n = 0;
  s.for_each([&](const document_key&, const stored_document&) { ++n; });
  CHECK(n == 4);

  // Keys are unambiguous for every pair of byte strings (issue 9): with a
  // NUL separator these two were one key.
  using namespace std::string_literals;
  write_batch nul;
  auto first = live(10, "{}");
  first.doc.seq_no = 3;
  first.doc.primary_term = 1;
  nul.documents.push_back({{"a", "b\0c"s}, first});
  nul.next_seq_no["a"] = 4;
  s.commit(nul);
  CHECK_FALSE(s.load({"a\0b"s, "c"}));
  CHECK_FALSE(s.load({"a", "b"}));
  auto back = s.load({"a", "b\0c"s});
  REQUIRE(back);
  CHECK(back->doc.seq_no == 3);
  CHECK(back->doc.primary_term == 1);
  write_batch other;
  other.documents.push_back({{"a\0b"s, "c"}, live(1, "{}")});
  s.commit(other);
  CHECK(s.load({"a", "b\0c"s})->doc.version == 10);
  std::set<std::pair<std::string, std::string>> keys;
  s.for_each([&](const document_key& k, const stored_document&) { keys.emplace(k.index, k.id); });
  CHECK(keys.count({"a", "b\0c"s}) == 1);
  CHECK(keys.count({"a\0b"s, "c"}) == 1);
  write_batch gone; // deleted in 1970: the sweep below drops them
  gone.documents.push_back({{"a", "b\0c"s}, tomb(11, 0)});
  gone.documents.push_back({{"a\0b"s, "c"}, tomb(2, 0)});
  s.commit(gone);
  CHECK(s.next_seq_nos() == std::map<std::string, int64_t>{{"a", 4}});
  // Sweep: the tombstone deleted at 1000 and the marker go; live docs stay
  // (and the two tombstones of the NUL check, deleted at 0).
  CHECK(s.sweep(999) == 3); // the marker and those two: not the tombstone at 1000
  CHECK(s.sweep(1001) == 1);
  CHECK_FALSE(s.load({"i", "b"}));
  CHECK(s.load({"i", "a"}));
}

} // namespace

TEST_CASE("memory store") {
  auto s = make_memory_store();
  exercise(*s);
}

TEST_CASE("rocksdb store, and its state survives a reopen") {
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  {
    auto s = make_rocksdb_store(o);
    exercise(*s);
    CHECK(s->stats().documents > 0);
  }
  auto s = make_rocksdb_store(o);
  CHECK(s->load({"i", "a"})->doc.version == 2);
  CHECK(*s->stored_offset({"t", 1}) == 41);
}

TEST_CASE("a state directory of store format 1 is refused with a message, never misread") {
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  {
    // What a wcoord before sequence numbers left: "d" index NUL id keys,
    // values starting with format byte 1, and no format marker.
    rocksdb::Options ro;
    ro.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(ro, o.path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    using namespace std::string_literals;
    REQUIRE(db->Put({}, "di\0a"s, "\x01\x01"s + std::string(48, '\0')).ok());
    db->Close();
  }
  try {
    make_rocksdb_store(o);
    FAIL("format 1 was opened");
  } catch (const store_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("store format 1")
                           && Catch::Contains("Move the directory away")
                           && Catch::Contains(o.path));
  }
  // A fresh directory gets the marker and opens again.
  temp_dir fresh;
  o.path = fresh.path.string();
  make_rocksdb_store(o).reset();
  CHECK_NOTHROW(make_rocksdb_store(o));
}

TEST_CASE("a second open of the same directory fails with a clear error") {
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  auto s = make_rocksdb_store(o);
  CHECK_THROWS_AS(make_rocksdb_store(o), store_error);
}

TEST_CASE("rocksdb compaction expires tombstones by event time, not wall clock") {
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  o.gc_deletes_ms = 1000;
  {
    auto s = make_rocksdb_store(o);
    write_batch b;
    b.documents.push_back({{"i", "old"}, tomb(1, 0)});
    b.documents.push_back({{"i", "young"}, tomb(1, 4800)});
    b.documents.push_back({{"i", "live"}, live(1, "{}")});
    s->commit(b);
    // No event time seen yet: records from 1970 are not "old" to anyone.
    s->compact();
    CHECK(s->load({"i", "old"}));
    write_batch clock;
    clock.event_time = 5500;
    clock.offsets[{"t", 0}] = 1;
    s->commit(clock);
  }
  // The event clock survives a restart.
  auto s = make_rocksdb_store(o);
  s->compact();
  CHECK_FALSE(s->load({"i", "old"}));  // 5500 - 0 > 1000
  CHECK(s->load({"i", "young"}));      // 5500 - 4800 <= 1000
  CHECK(s->load({"i", "live"}));
}

TEST_CASE("rocksdb sweep drops expired tombstones") {
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  o.gc_deletes_ms = 1000;
  auto s = make_rocksdb_store(o);
  write_batch b;
  b.documents.push_back({{"i", "old"}, tomb(1, 0)}); // deleted in 1970
  b.documents.push_back({{"i", "new"}, tomb(1, int64_t{1} << 62)});
  s->commit(b);
  // A full sweep at "now" (what compaction does) keeps the young tombstone.
  CHECK(s->sweep(int64_t{1} << 40) == 1);
  CHECK(s->load({"i", "new"}));
}

TEST_CASE("a batch leaves each document at its last write, whatever the key order") {
  // The RocksDB store puts a batch in key order (for the memtable); the
  // outcome must still be the batch's order: the last write of a key wins.
  temp_dir dir;
  rocksdb_options o;
  o.path = dir.path.string();
  auto s = make_rocksdb_store(o);
  std::map<std::string, int64_t> expected;
  write_batch b;
  uint32_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    x = x * 1103515245u + 12345u;
    auto id = std::to_string((x >> 8) % 500); // about 6 writes per id
    b.documents.push_back({{"i", id}, live(i + 1, "{}")});
    expected[id] = i + 1;
  }
  s->commit(b);
  for (auto& [id, version] : expected) {
    auto d = s->load({"i", id});
    REQUIRE(d);
    CHECK(d->doc.version == version);
  }
  int n = 0;
  s->for_each([&](const document_key&, const stored_document&) { ++n; });
  CHECK(n == static_cast<int>(expected.size()));
}

// The actors end to end, in process: random racing streams decided by the
// per-document actors must equal a sequential replay through the reference
// model; passivation and the live-actor cap keep state intact.

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <algorithm>
#include <map>
#include <random>

#include "actors/pipeline.hpp"
#include "app/actor_system_setup.hpp"
#include "reference_model.hpp"

using namespace wcoord;
using namespace std::chrono_literals;

namespace {

/// Collects durable effects from the store actor; tests wait on it.
struct collector {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<effect> effects;

  caf::actor spawn(caf::actor_system& sys) {
    return sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](const effect_batch& b) {
        std::lock_guard<std::mutex> g{mtx};
        effects.insert(effects.end(), b->begin(), b->end());
        cv.notify_all();
      }};
    });
  }

  bool wait_for_count(size_t n, std::chrono::seconds limit = 60s) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, limit, [&] { return effects.size() >= n; });
  }
};

/// Waits for a condition the actors make true asynchronously.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<document_store> store = make_memory_store();
  collector sink;
  std::unique_ptr<pipeline> engine;

  explicit fixture(pipeline_options opts,
                   std::shared_ptr<document_store> use_store = nullptr) {
    if (use_store)
      store = std::move(use_store);
    configure_actor_system(cfg, 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    engine = std::make_unique<pipeline>(*sys, store, sink.spawn(*sys), opts);
  }
  ~fixture() {
    engine->stop();
  }
};

reference::op random_op(std::mt19937_64& rng, const std::string& id, int64_t ts) {
  reference::op o;
  o.id = id;
  o.ts = ts;
  o.source = "{\"n\":" + std::to_string(rng() % 1000) + "}";
  switch (rng() % 8) {
    case 0: o.kind = "create"; o.vtype = "internal"; break;
    case 1: o.kind = "delete"; o.vtype = "internal"; break;
    case 2: o.kind = "delete"; o.vtype = "external"; o.version = rng() % 20; break;
    case 3: o.kind = "index"; o.vtype = "internal"; o.version = 1 + rng() % 6; break;
    case 4: o.kind = "index"; o.vtype = "external_gte"; o.version = rng() % 20; break;
    case 5: o.kind = "index"; o.vtype = "internal"; break;
    default: o.kind = "index"; o.vtype = "external"; o.version = rng() % 20; break;
  }
  return o;
}

/// A fresh directory, removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl =
      (std::filesystem::temp_directory_path() / "wcoord-pipeline-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

work_ptr to_work(const reference::op& o, uint64_t ticket) {
  auto w = std::make_shared<work_item>();
  w->ticket = ticket;
  w->m.op = o.kind == "create" ? op_type::create
            : o.kind == "delete" ? op_type::remove
                                 : op_type::index;
  w->m.vtype = o.vtype == "internal"   ? version_type::internal
               : o.vtype == "external" ? version_type::external
                                       : version_type::external_gte;
  w->m.version = o.version;
  w->m.index = "idx";
  w->m.id = o.id;
  w->m.source = o.source;
  w->m.timestamp = o.ts;
  return w;
}

} // namespace

TEST_CASE("random racing streams equal a sequential replay of the rules") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    pipeline_options opts;
    opts.gc_deletes_ms = 50;
    opts.shards = 3;
    fixture f{opts};
    std::mt19937_64 rng{seed};
    reference::model ref{50};
    std::vector<reference::answer> expected;
    const size_t n = 20000;
    {
      submitter feed{*f.engine, 64};
      int64_t ts = 0;
      for (size_t i = 0; i < n; ++i) {
        ts += rng() % 7; // event time moves, so tombstones expire sometimes
        auto o = random_op(rng, "doc-" + std::to_string(rng() % 200), ts);
        expected.push_back(ref.apply(o));
        feed.submit(to_work(o, i));
      }
    }
    REQUIRE(f.sink.wait_for_count(n));
    std::lock_guard<std::mutex> g{f.sink.mtx};
    REQUIRE(f.sink.effects.size() == n);
    size_t mismatches = 0;
    for (auto& e : f.sink.effects) {
      const auto& want = expected[e.work->ticket];
      const auto& got = e.verdict;
      bool same = got.status == want.status && to_string(got.kind) == want.outcome
                  && (want.outcome != "applied"
                      || (got.version == want.version
                          && to_string(got.result) == want.result));
      if (!same && ++mismatches < 5)
        FAIL_CHECK("ticket " << e.work->ticket << " seed " << seed << ": got "
                             << got.status << " " << to_string(got.kind) << " v"
                             << got.version << ", want " << want.status << " "
                             << want.outcome << " v" << want.version);
    }
    CHECK(mismatches == 0);
    // The store holds exactly the model's final state.
    for (const auto& [id, d] : ref.docs()) {
      auto s = f.store->load({"idx", id});
      if (!d.exists) {
        // Never written, or an expired tombstone (the store keeps it until
        // a sweep; the rules already treat it as missing).
        CHECK((!s || s->doc.state != document_state::kind::live));
        continue;
      }
      REQUIRE(s);
      CHECK(s->doc.version == d.version);
      CHECK((s->doc.state == document_state::kind::tombstone) == d.deleted);
      if (!d.deleted)
        CHECK(s->doc.source == d.source);
    }
  }
}

TEST_CASE("idle document actors passivate and come back with their state") {
  pipeline_options opts;
  opts.idle_timeout = 50ms;
  fixture f{opts};
  auto counters = f.engine->counters();
  {
    submitter feed{*f.engine};
    for (int i = 0; i < 100; ++i)
      feed.submit(to_work({"index", "d" + std::to_string(i), std::nullopt, "internal", "{}", 0}, i));
  }
  REQUIRE(f.sink.wait_for_count(100));
  CHECK(counters->activations.load() == 100);
  REQUIRE(eventually([&] { return counters->active_document_actors.load() == 0; }));
  CHECK(counters->passivations.load() == 100);
  // Re-activated actors load their state: the next internal write is v2.
  {
    submitter feed{*f.engine};
    for (int i = 0; i < 100; ++i)
      feed.submit(to_work({"index", "d" + std::to_string(i), 1, "internal", "{}", 0}, 100 + i));
  }
  REQUIRE(f.sink.wait_for_count(200));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  for (size_t i = 100; i < 200; ++i) {
    CHECK(f.sink.effects[i].verdict.kind == outcome::applied);
    CHECK(f.sink.effects[i].verdict.version == 2);
  }
}

TEST_CASE("the live actor cap holds: least recently used idle actors stop") {
  pipeline_options opts;
  opts.entity_limit = 20;
  opts.shards = 2;
  fixture f{opts};
  auto counters = f.engine->counters();
  const int ids = 500;
  for (int round = 0; round < 3; ++round) {
    {
      submitter feed{*f.engine, 16};
      for (int i = 0; i < ids; ++i)
        feed.submit(to_work({"index", "d" + std::to_string(i), std::nullopt, "internal", "{}", 0},
                            round * ids + i));
    }
    REQUIRE(f.sink.wait_for_count((round + 1) * ids));
    REQUIRE(eventually([&] { return counters->active_document_actors.load() <= 20; }));
  }
  // Nearly every write needed a fresh activation, and every activation not
  // alive now was passivated.
  CHECK(counters->activations.load() >= 3 * ids - 2 * 20);
  CHECK(counters->passivations.load()
        == counters->activations.load()
             - static_cast<uint64_t>(counters->active_document_actors.load()));
  // Every document saw three writes in order, across passivations.
  for (int i = 0; i < ids; ++i)
    CHECK(f.store->load({"idx", "d" + std::to_string(i)})->doc.version == 3);
}

TEST_CASE("a reset to a new epoch forgets every document and drops older work") {
  // Exactly once rewinds this way after an aborted transaction: decisions
  // of the old epoch are gone, successors load the store afresh.
  pipeline_options opts;
  opts.shards = 2;
  fixture f{opts};
  auto counters = f.engine->counters();
  auto index = [](uint64_t epoch, int64_t version) {
    reference::op o;
    o.id = "a";
    o.kind = "index";
    o.vtype = "external";
    o.version = version;
    o.source = "{}";
    o.ts = 1;
    auto w = std::const_pointer_cast<work_item>(to_work(o, 0));
    w->epoch = epoch;
    return work_ptr{w};
  };
  {
    submitter feed{*f.engine};
    feed.submit(index(0, 5));
  }
  REQUIRE(f.sink.wait_for_count(1));
  CHECK(counters->activations.load() == 1);
  for (auto& s : f.engine->shards())
    caf::anon_send(s, reset_atom_v, uint64_t{1});
  REQUIRE(eventually([&] { return counters->active_document_actors.load() == 0; }));
  {
    submitter feed{*f.engine};
    feed.submit(index(0, 9)); // rewound work that was still on its way
    feed.submit(index(1, 7)); // the same document, decided again
  }
  REQUIRE(f.sink.wait_for_count(2));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  REQUIRE(f.sink.effects.size() == 2);
  // Only the new epoch's write was decided, against the stored version 5:
  // the old epoch's version 9 never happened.
  CHECK(f.sink.effects[1].work->epoch == 1);
  CHECK(f.sink.effects[1].verdict.kind == outcome::applied);
  CHECK(f.sink.effects[1].verdict.version == 7);
  CHECK(counters->activations.load() == 2);
}

TEST_CASE("a load queued right behind effects sees them") {
  // A successor actor (after a rewind or a revocation) may ask for its
  // document while its predecessor's effects wait in the store actor for
  // their batched write: the answer must include them.
  collector sink;
  caf::actor_system_config cfg;
  configure_actor_system(cfg, 2);
  caf::actor_system sys{cfg};
  auto store = spawn_store_actor(sys, make_memory_store(), sink.spawn(sys), {});
  reference::op o;
  o.id = "a";
  o.kind = "index";
  o.vtype = "external";
  o.version = 5;
  o.source = "{}";
  effect e;
  e.work = to_work(o, 0);
  e.verdict.kind = outcome::applied;
  e.verdict.version = 5;
  stored_document written;
  written.doc.state = document_state::kind::live;
  written.doc.version = 5;
  written.doc.source = "{}";
  e.write = written;
  caf::scoped_actor self{sys};
  self->send(store, std::vector<effect>{e});
  std::optional<stored_document> loaded;
  self->request(store, caf::infinite, load_atom_v, document_key{"idx", "a"})
    .receive([&](const std::optional<stored_document>& d) { loaded = d; },
             [&](const caf::error& err) { FAIL(sys.render(err)); });
  REQUIRE(loaded);
  CHECK(loaded->doc.version == 5);
  self->send_exit(store, caf::exit_reason::user_shutdown);
}

TEST_CASE("a revoked partition's documents are forgotten, busy ones too") {
  // The consumer judges a partition drained before the store's notice of
  // the last durable effect reaches the shard. A document actor kept alive
  // then would decide with its old state when the partition comes back,
  // although the restore brought the store what another owner decided.
  pipeline_options opts;
  opts.shards = 1;
  fixture f{opts};
  auto counters = f.engine->counters();
  const topic_partition tp{"in", 2};
  auto index = [&](int64_t version, int64_t offset) {
    reference::op o;
    o.id = "a";
    o.kind = "index";
    o.vtype = "external";
    o.version = version;
    o.source = "{}";
    o.ts = 1;
    auto w = std::const_pointer_cast<work_item>(to_work(o, 0));
    w->from_kafka = true;
    w->origin.topic = tp.topic;
    w->origin.partition = tp.partition;
    w->origin.offset = offset;
    return work_ptr{w};
  };
  {
    submitter feed{*f.engine};
    feed.submit(index(5, 0));
  }
  // Queued right behind the work: the document actor is still busy.
  for (auto& s : f.engine->shards())
    caf::anon_send(s, drain_atom_v, std::vector<topic_partition>{tp});
  REQUIRE(f.sink.wait_for_count(1));
  REQUIRE(eventually([&] { return counters->active_document_actors.load() == 0; }, 5s));
  // Another owner decided version 9 meanwhile; the restore stored it.
  run_on_store(f.engine->store(), [&](document_store& s) {
    write_batch b;
    stored_document d;
    d.doc.state = document_state::kind::live;
    d.doc.version = 9;
    d.doc.source = "{}";
    d.last_source = tp;
    d.last_offset = 1;
    b.documents.emplace_back(document_key{"idx", "a"}, d);
    s.commit(b);
  }).get();
  {
    submitter feed{*f.engine};
    feed.submit(index(7, 2)); // back with this instance: 7 is older than 9
  }
  REQUIRE(f.sink.wait_for_count(2));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  REQUIRE(f.sink.effects.size() == 2);
  CHECK(f.sink.effects[1].verdict.kind == outcome::stale);
}

TEST_CASE("churning ids through a small entity limit: thousands of passivations, "
          "every state intact") {
  // Ids visited round-robin, 40 times more than the limit: least recently
  // used eviction evicts exactly the document that comes back next, so every
  // write after the first round re-activates its document from the store.
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    temp_dir dir; // outlives the fixture, whose store actor closes RocksDB
    std::shared_ptr<document_store> store;
    if (rocksdb) {
      rocksdb_options ro;
      ro.path = dir.path + "/db";
      store = make_rocksdb_store(ro);
    }
    pipeline_options opts;
    opts.entity_limit = 50;
    opts.shards = 2;
    fixture f{opts, store};
    auto counters = f.engine->counters();
    const int ids = 2000;
    const int rounds = 4;
    // Round r writes external version r + 1, except that in odd rounds one
    // id in ten repeats version r, which the previous round wrote: stale,
    // unless the state was lost on the way.
    auto repeats = [](int round, int i) { return round % 2 == 1 && i % 10 == 3; };
    for (int round = 0; round < rounds; ++round) {
      // Round by round: only an actor whose work is durable may stop, so a
      // round that overlapped the previous one would find its actors busy.
      {
        submitter feed{*f.engine, 16};
        for (int i = 0; i < ids; ++i) {
          reference::op o;
          o.id = "d" + std::to_string(i);
          o.kind = "index";
          o.vtype = "external";
          o.version = repeats(round, i) ? round : round + 1;
          o.source = "{\"r\":" + std::to_string(round) + "}";
          o.ts = round;
          feed.submit(to_work(o, static_cast<uint64_t>(round * ids + i)));
        }
      }
      REQUIRE(f.sink.wait_for_count((round + 1) * ids));
    }
    {
      std::lock_guard<std::mutex> g{f.sink.mtx};
      REQUIRE(f.sink.effects.size() == static_cast<size_t>(rounds * ids));
      size_t wrong = 0;
      for (const auto& e : f.sink.effects) {
        const int round = static_cast<int>(e.work->ticket) / ids;
        const int i = static_cast<int>(e.work->ticket) % ids;
        const bool ok = repeats(round, i)
                          ? e.verdict.kind == outcome::stale
                          : e.verdict.kind == outcome::applied
                              && e.verdict.version == round + 1;
        if (!ok && ++wrong < 5)
          FAIL_CHECK("round " << round << " doc " << i << ": " << to_string(e.verdict.kind)
                              << " v" << e.verdict.version);
      }
      CHECK(wrong == 0);
    }
    REQUIRE(eventually([&] { return counters->active_document_actors.load() <= 50; }));
    CHECK(counters->activations.load() >= static_cast<uint64_t>(rounds * ids - 2 * 50));
    CHECK(counters->passivations.load()
          == counters->activations.load()
               - static_cast<uint64_t>(counters->active_document_actors.load()));
    for (int i = 0; i < ids; ++i) {
      auto d = f.store->load({"idx", "d" + std::to_string(i)});
      REQUIRE(d);
      CHECK(d->doc.version == (repeats(rounds - 1, i) ? rounds - 1 : rounds));
    }
  }
}

TEST_CASE("tens of thousands of actors passivated at once: the shards stay responsive") {
  // Document actors are not linked to their shard: with a link, each exit
  // made the shard walk its list of links (CAF 0.17), O(live actors) per
  // passivation: passivating n actors cost O(n^2), here several times what
  // activating them did (issue 8). Without it, passivating costs no more
  // than activating: one message and one exit per actor.
  pipeline_options opts;
  opts.shards = 2;
  opts.entity_limit = 1000000;
  fixture f{opts};
  auto counters = f.engine->counters();
  const size_t running_before = f.sys->registry().running();
  const int n = 80000;
  const auto activating = std::chrono::steady_clock::now();
  {
    submitter feed{*f.engine};
    for (int i = 0; i < n; ++i)
      feed.submit(to_work({"index", "d" + std::to_string(i), std::nullopt, "internal", "{}", 0}, i));
  }
  REQUIRE(f.sink.wait_for_count(n, 120s));
  const auto activated = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - activating)
                           .count();
  CHECK(counters->active_document_actors.load() == n);
  CHECK(f.sys->registry().running() == running_before + n);
  const auto start = std::chrono::steady_clock::now();
  // A reset passivates every live actor of every shard.
  for (auto& s : f.engine->shards())
    caf::anon_send(s, reset_atom_v, uint64_t{1});
  REQUIRE(eventually([&] { return f.sys->registry().running() == running_before; }, 120s));
  // Every actor is gone. Writes sent now queue behind whatever their exits
  // still cost the shards (with links: an unlink walk each).
  {
    submitter feed{*f.engine};
    for (int i = 0; i < 8; ++i) {
      auto w = std::const_pointer_cast<work_item>(
        to_work({"index", "d" + std::to_string(i), std::nullopt, "internal", "{}", 0}, n + i));
      w->epoch = 1;
      feed.submit(w);
    }
  }
  REQUIRE(f.sink.wait_for_count(n + 8, 120s));
  const auto secs =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("activated " << n << " actors in " << activated << " s, passivated them in " << secs
                     << " s");
  // Relative to the activation, so a slow or loaded machine (or a
  // sanitizer build) slows both sides alike.
  CHECK(secs < activated + 2);
  std::lock_guard<std::mutex> g{f.sink.mtx};
  for (size_t i = n; i < f.sink.effects.size(); ++i)
    CHECK(f.sink.effects[i].verdict.version == 2); // loaded from the store
}

TEST_CASE("a stopping shard stops its document actors") {
  pipeline_options opts;
  opts.shards = 2;
  fixture f{opts};
  const size_t running_before = f.sys->registry().running();
  {
    submitter feed{*f.engine};
    for (int i = 0; i < 1000; ++i)
      feed.submit(to_work({"index", "d" + std::to_string(i), std::nullopt, "internal", "{}", 0}, i));
  }
  REQUIRE(f.sink.wait_for_count(1000));
  CHECK(f.sys->registry().running() == running_before + 1000);
  for (auto& s : f.engine->shards())
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  // The two shards and every document actor they had.
  CHECK(eventually([&] { return f.sys->registry().running() == running_before - 2; }));
}

TEST_CASE("a document actor that fails takes its shard down, as a link did") {
  pipeline_options opts;
  opts.shards = 1;
  fixture f{opts};
  caf::scoped_actor self{*f.sys};
  auto shard = f.engine->shards().front();
  auto store = f.engine->store();
  self->monitor(shard);
  self->monitor(store);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  bool store_down = false;
  self->receive([&](const caf::down_msg& d) { store_down = d.source == store.address(); },
                caf::after(std::chrono::seconds(30)) >> [] {});
  REQUIRE(store_down);
  // A new document cannot load its state from a store that is gone: its
  // actor stops with that error, and so does the shard.
  {
    submitter feed{*f.engine};
    feed.submit(to_work({"index", "a", std::nullopt, "internal", "{}", 0}, 0));
  }
  bool shard_down = false;
  self->receive(
    [&](const caf::down_msg& d) {
      shard_down = d.source == shard.address();
      CHECK(d.reason == caf::sec::request_receiver_down);
    },
    caf::after(std::chrono::seconds(30)) >> [] {});
  CHECK(shard_down);
}

// ---------------------------------------------------------------------------
// Sequence numbers and compare-and-set (issue 9) through the actors.

namespace {

/// Random writes on `ids` documents, a third of them compare-and-set with a
/// pair read back from an earlier answer on the same document: mostly its
/// latest (a well-behaved client), sometimes an older one or a made-up one
/// (a lost race). Records the model's answers, which a client would see.
struct cas_stream {
  std::mt19937_64 rng;
  reference::model ref;
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> pairs_seen;
  std::vector<reference::answer> expected;

  cas_stream(uint64_t seed, reference::numbering n) : rng(seed), ref(50, n) {}

  /// A write and its pair fields (kept in `extra`, by ticket).
  std::vector<reference::pair_fields> extra;

  reference::op next(int ids, int64_t ts, int64_t offset) {
    auto o = random_op(rng, "doc-" + std::to_string(rng() % ids), ts);
    reference::pair_fields x;
    x.offset = offset;
    auto& seen = pairs_seen[o.id];
    if (rng() % 3 == 0 && o.kind != "create") {
      o.vtype = "internal";
      o.version.reset();
      if (!seen.empty() && rng() % 4 != 0) {
        const auto& p = rng() % 5 == 0 ? seen[rng() % seen.size()] : seen.back();
        x.if_seq_no = p.first;
        x.if_term = p.second;
      } else {
        x.if_seq_no = static_cast<int64_t>(rng() % 50);
        x.if_term = 1 + static_cast<int64_t>(rng() % 2);
      }
    }
    auto a = ref.apply(o, x);
    if (a.outcome == "applied")
      seen.emplace_back(a.seq_no, a.term);
    expected.push_back(a);
    extra.push_back(x);
    return o;
  }
};

work_ptr to_cas_work(const reference::op& o, const reference::pair_fields& x,
                     uint64_t ticket) {
  auto w = std::const_pointer_cast<work_item>(to_work(o, ticket));
  w->m.if_seq_no = x.if_seq_no;
  w->m.if_primary_term = x.if_term;
  return w;
}

/// Submits `n` writes of the stream: as `apply` reads lines, or as the
/// records of one Kafka partition (offsets with gaps, as transaction
/// markers leave them).
void feed_stream(fixture& f, cas_stream& s, size_t n, bool from_kafka) {
  submitter feed{*f.engine, 64};
  int64_t ts = 0;
  for (size_t i = 0; i < n; ++i) {
    ts += s.rng() % 7;
    const int64_t offset = from_kafka ? static_cast<int64_t>(3 * i + 1000) : 0;
    auto o = s.next(150, ts, offset);
    auto w = std::const_pointer_cast<work_item>(to_cas_work(o, s.extra.back(), i));
    if (from_kafka) {
      w->from_kafka = true;
      w->origin = {"t", 0, offset, ts};
    }
    feed.submit(w);
  }
}

/// Every answer as the model gave it, pairs included, with both outcomes of
/// compare-and-set well represented; the store ends in the model's state.
void check_against_model(fixture& f, const cas_stream& s, size_t n) {
  REQUIRE(f.sink.wait_for_count(n));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  REQUIRE(f.sink.effects.size() == n);
  size_t mismatches = 0, cas_applied = 0, cas_conflicts = 0;
  for (auto& e : f.sink.effects) {
    const auto& want = s.expected[e.work->ticket];
    const auto& got = e.verdict;
    const bool applied = want.outcome == "applied";
    bool same = got.status == want.status && to_string(got.kind) == want.outcome
                && (!applied
                    || (got.version == want.version && to_string(got.result) == want.result
                        && got.seq_no == want.seq_no && got.primary_term == want.term));
    if (e.work->m.if_seq_no)
      ++(applied ? cas_applied : cas_conflicts);
    if (!same && ++mismatches < 5)
      FAIL_CHECK("ticket " << e.work->ticket << ": got " << got.status << " "
                           << to_string(got.kind) << " v" << got.version << " seq "
                           << got.seq_no << "/" << got.primary_term << ", want "
                           << want.status << " " << want.outcome << " v" << want.version
                           << " seq " << want.seq_no << "/" << want.term);
  }
  CHECK(mismatches == 0);
  // The stream really mixed both kinds of compare-and-set outcome.
  CHECK(cas_applied > n / 20);
  CHECK(cas_conflicts > n / 50);
  for (const auto& [id, d] : s.ref.docs()) {
    if (!d.exists)
      continue;
    auto st = f.store->load({"idx", id});
    REQUIRE(st);
    CHECK(st->doc.version == d.version);
    CHECK(st->doc.seq_no == d.seq_no);
    CHECK(st->doc.primary_term == d.term);
  }
}

} // namespace

TEST_CASE("random racing streams with compare-and-set, numbered as apply numbers") {
  // `wcoord apply`: dense per index from 0 in input order, whatever order
  // the document actors decide in.
  for (uint64_t seed : {5u, 6u}) {
    pipeline_options opts;
    opts.gc_deletes_ms = 50;
    opts.shards = 3;
    opts.sequence_by_index.emplace();
    fixture f{opts};
    cas_stream s{seed, reference::numbering::dense};
    const size_t n = 20000;
    feed_stream(f, s, n, false);
    check_against_model(f, s, n);
    // The next number is stored with the documents: one past the last.
    const auto applied = std::count_if(s.expected.begin(), s.expected.end(),
                                       [](const auto& a) { return a.outcome == "applied"; });
    CHECK(f.store->next_seq_nos().at("idx") == applied);
  }
}

TEST_CASE("random racing streams with compare-and-set, numbered by Kafka offsets") {
  // `wcoord run`: the record's offset, as one partition delivers them.
  for (uint64_t seed : {7u, 8u}) {
    pipeline_options opts;
    opts.gc_deletes_ms = 50;
    opts.shards = 3;
    fixture f{opts};
    cas_stream s{seed, reference::numbering::by_offset};
    const size_t n = 20000;
    feed_stream(f, s, n, true);
    check_against_model(f, s, n);
  }
}

TEST_CASE("two topics whose partitions share a number never give a document one pair") {
  // Topic b's offsets trail topic a's: numbering by offset alone would go
  // back and repeat pairs; one more than the document's last number keeps
  // every document's numbers unique and rising.
  pipeline_options opts;
  opts.shards = 2;
  opts.gc_deletes_ms = 50; // as the model's
  fixture f{opts};
  cas_stream s{9, reference::numbering::by_offset};
  const size_t n = 4000;
  int64_t next_offset[2] = {500, 0};
  {
    submitter feed{*f.engine, 16};
    for (size_t i = 0; i < n; ++i) {
      const int topic = static_cast<int>(s.rng() % 2);
      const int64_t offset = next_offset[topic]++;
      auto o = s.next(40, static_cast<int64_t>(i), offset);
      auto w = std::const_pointer_cast<work_item>(to_cas_work(o, s.extra.back(), i));
      w->from_kafka = true;
      w->origin = {topic == 0 ? "a" : "b", 0, offset, 0};
      feed.submit(w);
    }
  }
  check_against_model(f, s, n);
  std::lock_guard<std::mutex> g{f.sink.mtx};
  std::map<std::string, int64_t> last;
  std::vector<const effect*> by_ticket(n);
  for (auto& e : f.sink.effects)
    by_ticket[e.work->ticket] = &e;
  for (auto* e : by_ticket) {
    if (e->verdict.kind != outcome::applied)
      continue;
    auto [it, fresh] = last.try_emplace(e->work->m.id, -1);
    CHECK(e->verdict.seq_no > it->second);
    it->second = e->verdict.seq_no;
  }
}

TEST_CASE("apply numbering continues over a stored state; compare-and-set waits for its pair") {
  temp_dir dir;
  rocksdb_options ro;
  ro.path = dir.path + "/db";
  auto write = [](const std::string& id, std::optional<int64_t> if_seq_no, uint64_t ticket) {
    reference::pair_fields x;
    x.if_seq_no = if_seq_no;
    x.if_term = 1;
    return to_cas_work({"index", id, std::nullopt, "internal", "{}", 0}, x, ticket);
  };
  {
    pipeline_options opts;
    opts.shards = 2;
    auto store = std::shared_ptr<document_store>(make_rocksdb_store(ro));
    opts.sequence_by_index = store->next_seq_nos();
    fixture f{opts, store};
    {
      // A compare-and-set write right behind the write whose pair it
      // names: its actor must wait for the sequencer's number.
      submitter feed{*f.engine, 1};
      feed.submit(write("a", std::nullopt, 0)); // seq 0
      feed.submit(write("b", std::nullopt, 1)); // seq 1
      feed.submit(write("a", 0, 2));            // seq 2
      feed.submit(write("a", 0, 3));            // stale pair: 409
      feed.submit(write("b", 1, 4));            // seq 3
    }
    REQUIRE(f.sink.wait_for_count(5));
    std::lock_guard<std::mutex> g{f.sink.mtx};
    std::vector<const effect*> t(5);
    for (auto& e : f.sink.effects)
      t[e.work->ticket] = &e;
    CHECK(t[0]->verdict.seq_no == 0);
    CHECK(t[1]->verdict.seq_no == 1);
    CHECK(t[2]->verdict.seq_no == 2);
    CHECK(t[3]->verdict.status == 409);
    CHECK(t[3]->verdict.error->reason
          == "[a]: version conflict, required seqNo [0], primary term [1]. current document "
             "has seqNo [2] and primary term [1]");
    CHECK(t[4]->verdict.seq_no == 3);
    CHECK(t[4]->verdict.primary_term == 1);
  }
  // A second run over the same state directory continues at 4.
  pipeline_options opts;
  auto store = std::shared_ptr<document_store>(make_rocksdb_store(ro));
  opts.sequence_by_index = store->next_seq_nos();
  CHECK(opts.sequence_by_index->at("idx") == 4);
  fixture f{opts, store};
  {
    submitter feed{*f.engine};
    feed.submit(write("b", 3, 0));
  }
  REQUIRE(f.sink.wait_for_count(1));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  CHECK(f.sink.effects[0].verdict.kind == outcome::applied);
  CHECK(f.sink.effects[0].verdict.seq_no == 4);
}

TEST_CASE("apply numbering: records the parser refused pass the sequencer in batches") {
  // The submitter batches refused records straight to the first stage; under
  // apply that is the sequencer, which must take them in batches too, or
  // their tickets never come and every later answer waits for good.
  pipeline_options opts;
  opts.shards = 2;
  opts.sequence_by_index.emplace();
  fixture f{opts};
  const uint64_t n = 40;
  {
    submitter feed{*f.engine, 8};
    for (uint64_t t = 0; t < n; ++t) {
      auto w = std::const_pointer_cast<work_item>(
        to_cas_work({"index", "d" + std::to_string(t % 3), std::nullopt, "internal", "{}", 0},
                    {}, t));
      if (t % 4 == 1) {
        w->parsed = false;
        w->invalid = invalid_decision("parse_exception", "refused");
      }
      feed.submit(w);
    }
  }
  REQUIRE(f.sink.wait_for_count(n));
  std::lock_guard<std::mutex> g{f.sink.mtx};
  size_t refused = 0;
  int64_t next = 0;
  std::vector<const effect*> t(n);
  for (auto& e : f.sink.effects)
    t[e.work->ticket] = &e;
  for (auto* e : t) {
    REQUIRE(e);
    if (e->verdict.kind == outcome::applied)
      CHECK(e->verdict.seq_no == next++); // dense, in ticket order
    else
      ++refused;
  }
  CHECK(refused == n / 4);
}

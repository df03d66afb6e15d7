// The publisher under exactly once (kafka/publisher_actor.hpp), on
// librdkafka's mock cluster: it commits a transaction before the interval
// once enough effects wait, and a transaction never holds an effect of a
// record above one still being decided.

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/store_actor.hpp"
#include "app/actor_system_setup.hpp"
#include "kafka/embedded_cluster.hpp"
#include "kafka/handles.hpp"
#include "kafka/publisher_actor.hpp"
#include "kafka/transaction_context.hpp"
#include "store/document_store.hpp"

using namespace wcoord;
using namespace wcoord::kafka;
using namespace std::chrono_literals;

namespace {

/// Durable effects, as the store actor hands them to its sink.
struct durable_effects {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<int64_t> offsets;

  caf::actor spawn(caf::actor_system& sys) {
    return sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](const effect_batch& b) {
        std::lock_guard<std::mutex> g{mtx};
        for (auto& e : *b)
          offsets.push_back(e.work->origin.offset);
        cv.notify_all();
      }};
    });
  }

  size_t count() {
    std::lock_guard<std::mutex> g{mtx};
    return offsets.size();
  }

  bool wait_for_count(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, limit, [&] { return offsets.size() >= n; });
  }
};

/// An applied index of `id` decided from `in`/0 at `offset`: one changelog
/// record inside the transaction.
effect applied_at(int64_t offset) {
  auto w = std::make_shared<work_item>();
  w->from_kafka = true;
  w->origin = {"in", 0, offset, 1700000000000};
  w->m.index = "docs";
  w->m.id = "d" + std::to_string(offset);
  w->m.source = R"({"n":1})";
  w->value = R"({"id":"d)" + std::to_string(offset) + R"(","doc":{"n":1}})";
  effect e;
  e.work = std::move(w);
  e.verdict.kind = outcome::applied;
  e.verdict.status = 201;
  e.verdict.result = write_result::created;
  e.verdict.version = 1;
  e.verdict.seq_no = offset;
  e.verdict.primary_term = 1;
  return e;
}

} // namespace

TEST_CASE("publisher: exactly once commits before the interval once enough effects wait, "
          "never past a record still being decided",
          "[publisher]") {
  embedded_cluster cluster;
  for (auto* t : {"in", "out.changelog", "out.dlq"})
    cluster.create_topic(t, 1);

  // The group's metadata, as the consumer would hand it over. (The mock
  // cluster takes transactional offsets without keeping them: what a
  // transaction holds is seen here in the effects the store receives.)
  std::string err;
  auto consumer = make_client(RD_KAFKA_CONSUMER,
                              {{"bootstrap.servers", cluster.bootstrap_servers()},
                               {"group.id", "g"},
                               {"enable.auto.commit", "false"}},
                              err);
  REQUIRE(consumer);
  auto txn = std::make_shared<transaction_context>();
  txn->update_group_metadata(consumer.get());
  const topic_partition in{"in", 0};
  txn->published->assign(in, 0);
  for (int64_t o = 0; o < 10; ++o)
    txn->published->dispatched(in, o, 1700000000000);

  caf::actor_system_config cfg;
  configure_actor_system(cfg, 2);
  caf::actor_system sys{cfg};
  durable_effects durable;
  auto store = spawn_store_actor(sys, make_memory_store(), durable.spawn(sys));
  auto counters = std::make_shared<output_counters>();
  publisher_options opts;
  opts.changelog_topic = "out.changelog";
  opts.deadletter_topic = "out.dlq";
  opts.transactions = txn;
  opts.commit_interval = std::chrono::hours(1); // every commit here is early
  opts.commit_after_effects = 4;
  auto pub = spawn_publisher(sys,
                             {{"bootstrap.servers", cluster.bootstrap_servers()},
                              {"transactional.id", "publisher-test"}},
                             opts, store, counters);
  REQUIRE(txn->wait_initialized(30s));

  // Offsets 1..6 are decided, 0 is not: past the threshold, but nothing may
  // be committed above offset 0. (One message, as the consumer batches the
  // records the parser refused, so the early commit comes after all six.)
  std::vector<effect> first;
  for (int64_t o = 1; o <= 6; ++o)
    first.push_back(applied_at(o));
  caf::anon_send(pub, std::move(first));
  std::this_thread::sleep_for(1500ms);
  CHECK(durable.count() == 0);
  const auto before = counters->transactions_committed.load(); // offset 0 alone, maybe

  // Offset 0 arrives: the next early commit (4 more effects than the last
  // one left waiting) takes everything, long before the interval.
  std::vector<effect> second;
  second.push_back(applied_at(0));
  for (int64_t o = 7; o < 10; ++o)
    second.push_back(applied_at(o));
  caf::anon_send(pub, std::move(second));
  REQUIRE(durable.wait_for_count(10, 20s));
  CHECK(counters->transactions_committed.load() == before + 1);
  for (int i = 0; i < 100 && counters->changelog_produced.load() < 10; ++i)
    std::this_thread::sleep_for(50ms); // counted from delivery reports
  CHECK(counters->changelog_produced.load() == 10);
  {
    std::lock_guard<std::mutex> g{durable.mtx};
    auto got = durable.offsets;
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }

  // Fewer than the threshold wait: they stay until the interval.
  txn->published->dispatched(in, 10, 1700000000000);
  caf::anon_send(pub, applied_at(10));
  std::this_thread::sleep_for(1000ms);
  CHECK(durable.count() == 10);
  CHECK(counters->transactions_committed.load() == before + 1);

  caf::anon_send_exit(pub, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}

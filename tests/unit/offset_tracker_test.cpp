// The commit rule: per partition, the lowest offset not yet durable.

#include <catch2/catch.hpp>

#include <thread>

#include "kafka/offset_tracker.hpp"

using wcoord::topic_partition;
using wcoord::kafka::offset_tracker;

TEST_CASE("committable is the lowest unfinished offset; ids finish out of order") {
  offset_tracker t;
  topic_partition tp{"m", 0};
  t.assign(tp, -1);
  CHECK(t.progress(tp)->committable == -1); // nothing known yet
  for (int64_t o = 10; o < 15; ++o)
    t.dispatched(tp, o, 1000 + o);
  CHECK(t.progress(tp)->committable == 10);
  CHECK(t.progress(tp)->in_flight == 5);
  CHECK(*t.progress(tp)->oldest_timestamp == 1010);
  t.finished(tp, 12);
  t.finished(tp, 11);
  CHECK(t.progress(tp)->committable == 10); // 10 still open
  t.finished(tp, 10);
  CHECK(t.progress(tp)->committable == 13);
  CHECK(*t.progress(tp)->oldest_timestamp == 1013);
  t.finished(tp, 14);
  t.finished(tp, 13);
  auto p = *t.progress(tp);
  CHECK(p.committable == 15); // one past the last dispatched
  CHECK(p.in_flight == 0);
  CHECK_FALSE(p.oldest_timestamp);
}

TEST_CASE("unknown, repeated and revoked finishes change nothing") {
  offset_tracker t;
  topic_partition tp{"m", 1};
  t.assign(tp, -1);
  t.dispatched(tp, 5, 0);
  t.finished(tp, 4);
  t.finished(tp, 6);
  CHECK(t.progress(tp)->in_flight == 1);
  t.finished(tp, 5);
  t.finished(tp, 5);
  CHECK(t.progress(tp)->in_flight == 0);
  t.revoke(tp);
  CHECK_FALSE(t.progress(tp));
  t.finished(tp, 7); // its new owner replays it; nothing to track here
  CHECK_FALSE(t.progress(tp));
}

TEST_CASE("partitions are independent and a drain can be awaited") {
  offset_tracker t;
  topic_partition a{"m", 0}, b{"m", 1};
  t.dispatched(a, 0, 0);
  t.dispatched(b, 0, 0);
  t.finished(b, 0);
  CHECK(t.all().at(a).committable == 0);
  CHECK(t.all().at(b).committable == 1);
  auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  CHECK_FALSE(t.wait_drained({a}, soon));
  CHECK(t.wait_drained({b}, soon));
  std::thread finisher([&] { t.finished(a, 0); });
  CHECK(t.wait_drained({a, b}, std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  finisher.join();
}

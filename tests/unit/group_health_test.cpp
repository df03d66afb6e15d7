// Group health: which partitions have no owner, and how long committed
// offsets have not moved while records wait (kafka/group_health.hpp).

#include <catch2/catch.hpp>

#include "kafka/group_health.hpp"

using namespace std::chrono_literals;
using wcoord::topic_partition;
using namespace wcoord::kafka;

namespace {

std::vector<topic_partition> parts(const std::string& topic, int n) {
  std::vector<topic_partition> out;
  for (int p = 0; p < n; ++p)
    out.push_back({topic, p});
  return out;
}

group_member member(const std::string& id, std::vector<topic_partition> assignment) {
  return {id, "client-" + id, "/127.0.0.1", std::move(assignment)};
}

} // namespace

TEST_CASE("subscribed topics: configured names that exist") {
  std::vector<std::string> existing{"a", "b", "wcoord.changelog", "__consumer_offsets"};
  CHECK(subscribed_topics({"b", "a", "missing"}, "", existing)
        == std::vector<std::string>{"a", "b"});
  CHECK(subscribed_topics({}, "", existing).empty());
}

TEST_CASE("subscribed topics: a regex is anchored at the start, like librdkafka's") {
  std::vector<std::string> existing{"orders.eu", "orders.us", "old-orders.eu", "orders.wcoord.dlq",
                                    "orders.wcoord.changelog", "__consumer_offsets"};
  std::set<std::string> own{"orders.wcoord.dlq", "orders.wcoord.changelog"};
  CHECK(subscribed_topics({}, "orders\\..*", existing, own)
        == std::vector<std::string>{"orders.eu", "orders.us"});
  CHECK(subscribed_topics({}, "^orders", existing, own)
        == std::vector<std::string>{"orders.eu", "orders.us"});
  CHECK(subscribed_topics({}, ".*", existing, own)
        == std::vector<std::string>{"old-orders.eu", "orders.eu", "orders.us"});
  CHECK(subscribed_topics({}, "orders[", existing, own).empty()); // invalid: nothing
}

TEST_CASE("stable group: partitions in no member's assignment are unowned") {
  auto all = parts("t", 4);
  group_description g;
  g.state = group_state::stable;
  g.members = {member("a", {{"t", 0}, {"t", 1}}), member("b", {{"t", 3}, {"other", 2}})};
  auto unowned = unowned_partitions(all, g);
  REQUIRE(unowned);
  CHECK(*unowned == std::vector<topic_partition>{{"t", 2}});

  g.members.push_back(member("c", {{"t", 2}}));
  CHECK(unowned_partitions(all, g)->empty());
}

TEST_CASE("stable group: a member holding nothing owns nothing") {
  group_description g;
  g.state = group_state::stable;
  g.members = {member("a", {}), member("b", parts("t", 1))};
  CHECK(*unowned_partitions(parts("t", 2), g) == std::vector<topic_partition>{{"t", 1}});
}

TEST_CASE("empty or dead group: nobody processes any partition") {
  auto all = parts("t", 3);
  group_description g;
  g.state = group_state::empty;
  CHECK(*unowned_partitions(all, g) == all);
  g.state = group_state::dead;
  CHECK(*unowned_partitions(all, g) == all);
}

TEST_CASE("rebalancing or unknown group: ownership is not known") {
  group_description g;
  g.members = {member("a", {})}; // the brokers publish no assignment while rebalancing
  for (auto s : {group_state::preparing_rebalance, group_state::completing_rebalance,
                 group_state::unknown}) {
    g.state = s;
    CHECK_FALSE(unowned_partitions(parts("t", 2), g));
  }
}

TEST_CASE("group state names are Kafka's") {
  CHECK(std::string(group_state_name(group_state::stable)) == "Stable");
  CHECK(std::string(group_state_name(group_state::preparing_rebalance)) == "PreparingRebalance");
  CHECK(std::string(group_state_name(group_state::completing_rebalance))
        == "CompletingRebalance");
  CHECK(std::string(group_state_name(group_state::empty)) == "Empty");
  CHECK(std::string(group_state_name(group_state::dead)) == "Dead");
  CHECK(std::string(group_state_name(group_state::unknown)) == "Unknown");
}

TEST_CASE("records after the commit: from the committed offset, else the low watermark") {
  CHECK(records_after_commit(10, 0, 15) == 5);
  CHECK(records_after_commit(15, 0, 15) == 0);
  CHECK(records_after_commit(-1, 3, 8) == 5);  // nothing committed
  CHECK(records_after_commit(2, 5, 8) == 3);   // retention removed what was committed
  CHECK(records_after_commit(20, 0, 15) == 0); // never negative
  CHECK(resume_offset(-1, 4) == 4);
  CHECK(resume_offset(7, 4) == 7);
  CHECK(resume_offset(2, 4) == 4);
}

TEST_CASE("partitions for log lines: grouped by topic, bounded") {
  CHECK(describe_partitions({{"b", 1}, {"a", 2}, {"a", 0}}) == "a[0,2] b[1]");
  CHECK(describe_partitions({}).empty());
  CHECK(describe_partitions(parts("t", 5), 3) == "t[0,1,2] ... (2 more)");
}

TEST_CASE("commit age: grows while records wait behind a committed offset that stays") {
  commit_age_tracker t;
  topic_partition tp{"t", 0};
  auto t0 = health_clock::now();
  t.observe(tp, 100, true, t0); // first observation: nothing known before
  CHECK(t.age_seconds(tp, t0) == 0);
  t.observe(tp, 100, true, t0 + 10s);
  CHECK(t.age_seconds(tp, t0 + 10s) == Approx(10));
  t.observe(tp, 100, true, t0 + 30s);
  CHECK(t.oldest_seconds(t0 + 30s) == Approx(30));
  CHECK(*t.committed(tp) == 100);
}

TEST_CASE("commit age: a commit restarts it; no waiting record makes it 0") {
  commit_age_tracker t;
  topic_partition tp{"t", 0};
  auto t0 = health_clock::now();
  t.observe(tp, 100, true, t0);
  t.observe(tp, 100, true, t0 + 20s);
  t.observe(tp, 150, true, t0 + 30s); // progress, still behind
  CHECK(t.age_seconds(tp, t0 + 30s) == 0);
  t.observe(tp, 150, true, t0 + 40s);
  CHECK(t.age_seconds(tp, t0 + 40s) == Approx(10));
  t.observe(tp, 150, false, t0 + 50s); // caught up
  CHECK(t.age_seconds(tp, t0 + 50s) == 0);
  CHECK(t.oldest_seconds(t0 + 50s) == 0);
}

TEST_CASE("commit age: records after a long idle time start from the last caught-up probe") {
  commit_age_tracker t;
  topic_partition tp{"t", 0};
  auto t0 = health_clock::now();
  t.observe(tp, 100, false, t0);
  for (int i = 1; i <= 360; ++i) // an idle hour, probed every 10 s
    t.observe(tp, 100, false, t0 + i * 10s);
  auto t1 = t0 + 3600s;
  t.observe(tp, 100, true, t1 + 10s); // a record arrives, not committed yet
  CHECK(t.age_seconds(tp, t1 + 10s) == Approx(10)); // not an hour
}

TEST_CASE("commit age: the oldest partition, and those waiting past a bound") {
  commit_age_tracker t;
  auto t0 = health_clock::now();
  t.observe({"t", 0}, 5, true, t0);
  t.observe({"t", 1}, 5, true, t0 + 20s);
  t.observe({"t", 2}, 5, false, t0);
  auto now = t0 + 60s;
  t.observe({"t", 0}, 5, true, now);
  t.observe({"t", 1}, 5, true, now);
  t.observe({"t", 2}, 5, false, now);
  CHECK(t.oldest_seconds(now) == Approx(60));
  auto w = t.waiting(now, 30s);
  REQUIRE(w.size() == 2);
  CHECK(w[0].first == topic_partition{"t", 0});
  CHECK(w[0].second == Approx(60));
  CHECK(w[1].first == topic_partition{"t", 1});
  CHECK(t.waiting(now, 50s).size() == 1);

  t.retain({{"t", 1}, {"t", 2}}); // t[0] no longer subscribed
  CHECK(t.oldest_seconds(now) == Approx(40));
  CHECK_FALSE(t.committed({"t", 0}));
}

TEST_CASE("commit age: a partition first committed counts as a change") {
  commit_age_tracker t;
  topic_partition tp{"t", 3};
  auto t0 = health_clock::now();
  t.observe(tp, -1, true, t0);
  t.observe(tp, -1, true, t0 + 15s);
  CHECK(t.age_seconds(tp, t0 + 15s) == Approx(15)); // records, nothing ever committed
  t.observe(tp, 4, true, t0 + 20s);
  CHECK(t.age_seconds(tp, t0 + 20s) == 0);
}

TEST_CASE("readable cache: a record found stays until the resume offset moves") {
  readable_cache c;
  topic_partition tp{"t", 0};
  CHECK_FALSE(c.known(tp, 10, 11));
  c.remember(tp, 10, 11, true);
  CHECK(c.known(tp, 10, 11) == std::optional<bool>(true));
  CHECK(c.known(tp, 10, 50) == std::optional<bool>(true)); // more written: still there
  CHECK_FALSE(c.known(tp, 12, 50));                        // moved: read again
}

TEST_CASE("readable cache: only markers after the commit holds while nothing is written") {
  readable_cache c;
  topic_partition tp{"t", 0};
  c.remember(tp, 10, 11, false); // a transaction's commit marker at 10
  CHECK(c.known(tp, 10, 11) == std::optional<bool>(false));
  CHECK_FALSE(c.known(tp, 10, 13)); // new records (or markers): read again
  c.retain({});
  CHECK_FALSE(c.known(tp, 10, 11));
}

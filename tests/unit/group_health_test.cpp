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

/// Kafka's ConsumerProtocol Assignment, written the way Java and
/// librdkafka clients write it.
struct assignment_writer {
  std::vector<unsigned char> bytes;

  assignment_writer& i16(int v) {
    bytes.push_back(static_cast<unsigned char>((v >> 8) & 0xff));
    bytes.push_back(static_cast<unsigned char>(v & 0xff));
    return *this;
  }
  assignment_writer& i32(int64_t v) {
    auto u = static_cast<uint32_t>(v);
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<unsigned char>((u >> shift) & 0xff));
    return *this;
  }
  assignment_writer& str(const std::string& s) {
    i16(static_cast<int>(s.size()));
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  assignment_writer& raw(const std::string& s) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
};

std::vector<unsigned char>
assignment(int version, const std::vector<std::pair<std::string, std::vector<int>>>& topics,
           const std::string& user_data = "", bool null_user_data = false) {
  assignment_writer w;
  w.i16(version).i32(static_cast<int64_t>(topics.size()));
  for (auto& [topic, partitions] : topics) {
    w.str(topic).i32(static_cast<int64_t>(partitions.size()));
    for (int p : partitions)
      w.i32(p);
  }
  if (null_user_data)
    w.i32(-1);
  else
    w.i32(static_cast<int64_t>(user_data.size())).raw(user_data);
  return w.bytes;
}

std::optional<std::vector<topic_partition>> decode(const std::vector<unsigned char>& b,
                                                   std::string* error = nullptr) {
  return decode_member_assignment(b.data(), b.size(), error);
}

} // namespace

TEST_CASE("member assignment: topics and partitions as the coordinator keeps them") {
  auto a = decode(assignment(0, {{"orders", {0, 2}}, {"other", {5}}}));
  REQUIRE(a);
  CHECK(*a == std::vector<topic_partition>{{"orders", 0}, {"orders", 2}, {"other", 5}});

  // Cooperative-sticky (version 1+) writes its generation in the user data.
  std::string user("\x00\x00\x00\x07", 4);
  a = decode(assignment(1, {{"t", {3, 1}}}, user));
  REQUIRE(a);
  CHECK(*a == std::vector<topic_partition>{{"t", 3}, {"t", 1}});
  a = decode(assignment(3, {{"t", {0}}}, "", true)); // null user data, a later version
  REQUIRE(a);
  CHECK(*a == std::vector<topic_partition>{{"t", 0}});
}

TEST_CASE("member assignment: nothing assigned") {
  CHECK(decode_member_assignment(nullptr, 0)->empty()); // no bytes: not (yet) given anything
  CHECK(decode(assignment(0, {}))->empty());
  CHECK(decode(assignment(0, {{"t", {}}}))->empty()); // a topic without partitions
}

TEST_CASE("member assignment: without user data, or with a later version's fields after it") {
  auto b = assignment(0, {{"t", {1}}});
  b.resize(b.size() - 4); // ends with the partitions
  CHECK(*decode(b) == std::vector<topic_partition>{{"t", 1}});

  b = assignment(4, {{"t", {1}}}, "ud");
  for (unsigned char extra : {0, 0, 0, 9})
    b.push_back(extra);
  CHECK(*decode(b) == std::vector<topic_partition>{{"t", 1}});
}

TEST_CASE("member assignment: malformed bytes are an error") {
  auto bad = [](const std::vector<unsigned char>& b) {
    std::string why;
    auto a = decode(b, &why);
    CHECK_FALSE(a);
    CHECK_FALSE(why.empty());
    return why;
  };
  CHECK(bad({0x00}).find("version") != std::string::npos);
  bad(assignment_writer{}.i16(-1).i32(0).i32(0).bytes);           // negative version
  bad(assignment_writer{}.i16(0).i32(-1).i32(0).bytes);           // negative topic count
  bad(assignment_writer{}.i16(0).i32(0x7fffffff).i32(0).bytes);   // more topics than bytes
  bad(assignment_writer{}.i16(0).i32(1).i16(0).i32(0).i32(0).bytes);  // empty topic name
  bad(assignment_writer{}.i16(0).i32(1).i16(-1).i32(0).i32(0).bytes); // null topic name
  bad(assignment_writer{}.i16(0).i32(1).i16(200).raw("t").i32(0).bytes); // name past the end
  bad(assignment_writer{}.i16(0).i32(1).str("t").i32(-2).i32(0).bytes);  // negative partitions
  bad(assignment_writer{}.i16(0).i32(1).str("t").i32(1000).i32(0).i32(0).bytes); // too many
  bad(assignment_writer{}.i16(0).i32(1).str("t").i32(1).i32(-3).i32(0).bytes); // partition -3
  bad(assignment_writer{}.i16(0).i32(0).i32(10).raw("abc").bytes);    // user data past the end
  bad(assignment_writer{}.i16(0).i32(0).i32(-2).bytes);               // user data length -2
  bad(assignment_writer{}.i16(0).i32(0).raw("\x01\x02").bytes);       // truncated length
}

TEST_CASE("member assignment: every truncation and corruption decodes or fails, never reads past") {
  auto whole = assignment(1, {{"orders", {0, 1, 2}}, {"payments.eu", {7}}}, "generation");
  REQUIRE(decode(whole));
  // Every prefix: an error (or, cut exactly after the partitions, no user data).
  int decoded = 0;
  for (size_t n = 1; n < whole.size(); ++n) {
    std::vector<unsigned char> cut(whole.begin(), whole.begin() + static_cast<long>(n));
    std::string why;
    auto a = decode_member_assignment(cut.data(), cut.size(), &why); // in its own buffer (ASan)
    if (a) {
      ++decoded;
      CHECK(a->size() == 4);
    } else {
      CHECK_FALSE(why.empty());
    }
  }
  CHECK(decoded == 1);
  // Every byte set to values that make lengths and counts huge, negative or 0.
  for (size_t i = 0; i < whole.size(); ++i)
    for (unsigned char v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto b = whole;
      b[i] = v;
      std::string why;
      auto a = decode_member_assignment(b.data(), b.size(), &why);
      CHECK((a.has_value() || !why.empty()));
    }
}

TEST_CASE("group states from their names in a DescribeGroups answer") {
  CHECK(parse_group_state("Stable") == group_state::stable);
  CHECK(parse_group_state("PreparingRebalance") == group_state::preparing_rebalance);
  CHECK(parse_group_state("CompletingRebalance") == group_state::completing_rebalance);
  CHECK(parse_group_state("AwaitingSync") == group_state::completing_rebalance); // older brokers
  CHECK(parse_group_state("Empty") == group_state::empty);
  CHECK(parse_group_state("Dead") == group_state::dead);
  CHECK(parse_group_state("stable") == group_state::stable);
  CHECK(parse_group_state("") == group_state::unknown);
  CHECK(parse_group_state("Stabl") == group_state::unknown);
  CHECK(parse_group_state("Stable2") == group_state::unknown);
  CHECK(parse_group_state("Assigning") == group_state::unknown); // KIP-848 states: not ours
  for (int s = 1; s < group_state_count; ++s) // the names round-trip
    CHECK(parse_group_state(group_state_name(static_cast<group_state>(s)))
          == static_cast<group_state>(s));
}

TEST_CASE("a group no broker lists: Dead once that lasts, with no committed offset") {
  unlisted_group u{10s};
  auto t0 = health_clock::now();
  // A broker that just started lists no group for a moment.
  CHECK(u.observe(false, t0) == group_state::unknown);
  CHECK(u.observe(false, t0 + 5s) == group_state::unknown);
  CHECK(u.observe(false, t0 + 10s) == group_state::dead);
  CHECK(u.observe(false, t0 + 11s) == group_state::dead);

  u.listed(); // described again: it starts over
  CHECK(u.observe(false, t0 + 30s) == group_state::unknown);
  CHECK(u.observe(false, t0 + 40s) == group_state::dead);
}

TEST_CASE("a group no broker lists: 2 probes at least, and never with a committed offset") {
  unlisted_group u{10s};
  auto t0 = health_clock::now();
  CHECK(u.observe(false, t0) == group_state::unknown); // one probe tells nothing
  CHECK(u.observe(false, t0 + 60s) == group_state::dead);

  unlisted_group v{10s};
  CHECK(v.observe(false, t0) == group_state::unknown);
  // It has offsets, so the brokers list it: that answer was incomplete.
  CHECK(v.observe(true, t0 + 20s) == group_state::unknown);
  CHECK(v.observe(false, t0 + 25s) == group_state::unknown); // starts over
  CHECK(v.observe(false, t0 + 30s) == group_state::unknown);
  CHECK(v.observe(false, t0 + 35s) == group_state::dead);
}

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

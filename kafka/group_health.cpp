#include "kafka/group_health.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <regex>
#include <sstream>

#include "kafka/handles.hpp"
#include "support/logging.hpp"

namespace wcoord::kafka {

// ---------------------------------------------------------------- pure parts

const char* group_state_name(group_state s) {
  switch (s) {
    case group_state::preparing_rebalance:
      return "PreparingRebalance";
    case group_state::completing_rebalance:
      return "CompletingRebalance";
    case group_state::stable:
      return "Stable";
    case group_state::dead:
      return "Dead";
    case group_state::empty:
      return "Empty";
    case group_state::unknown:
      break;
  }
  return "Unknown";
}

group_state parse_group_state(const std::string& name) {
  static const std::pair<const char*, group_state> names[] = {
    {"Stable", group_state::stable},
    {"PreparingRebalance", group_state::preparing_rebalance},
    {"CompletingRebalance", group_state::completing_rebalance},
    {"AwaitingSync", group_state::completing_rebalance},
    {"Empty", group_state::empty},
    {"Dead", group_state::dead},
  };
  auto same = [](const std::string& a, const char* b) {
    size_t i = 0;
    for (; i < a.size() && b[i]; ++i)
      if (std::tolower(static_cast<unsigned char>(a[i]))
          != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return i == a.size() && !b[i];
  };
  for (auto& [n, s] : names)
    if (same(name, n))
      return s;
  return group_state::unknown;
}

namespace {

/// Reads big-endian fields from bytes it never reads past.
class wire_reader {
public:
  wire_reader(const unsigned char* p, size_t n) : p_(p), left_(n) {}

  size_t left() const { return left_; }

  bool i16(int16_t& v) {
    uint64_t u;
    if (!be(2, u))
      return false;
    v = static_cast<int16_t>(static_cast<uint16_t>(u));
    return true;
  }
  bool i32(int32_t& v) {
    uint64_t u;
    if (!be(4, u))
      return false;
    v = static_cast<int32_t>(static_cast<uint32_t>(u));
    return true;
  }
  bool bytes(size_t n, const unsigned char*& out) {
    if (n > left_)
      return false;
    out = p_;
    p_ += n;
    left_ -= n;
    return true;
  }

private:
  bool be(size_t n, uint64_t& u) {
    const unsigned char* b;
    if (!bytes(n, b))
      return false;
    u = 0;
    for (size_t i = 0; i < n; ++i)
      u = (u << 8) | b[i];
    return true;
  }

  const unsigned char* p_;
  size_t left_;
};

} // namespace

std::optional<std::vector<topic_partition>>
decode_member_assignment(const void* data, size_t size, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<std::vector<topic_partition>> {
    if (error)
      *error = std::move(why) + " (" + std::to_string(size) + " byte(s))";
    return std::nullopt;
  };
  std::vector<topic_partition> out;
  if (size == 0)
    return out; // nothing assigned
  if (!data)
    return fail("no bytes");
  wire_reader r{static_cast<const unsigned char*>(data), size};
  int16_t version;
  if (!r.i16(version))
    return fail("truncated version");
  if (version < 0)
    return fail("negative version " + std::to_string(version));
  int32_t topics;
  if (!r.i32(topics))
    return fail("truncated topic count");
  // Each topic takes 6 bytes at least (name length, partition count).
  if (topics < 0 || static_cast<uint64_t>(topics) * 6 > r.left())
    return fail("impossible topic count " + std::to_string(topics));
  for (int32_t t = 0; t < topics; ++t) {
    int16_t len;
    const unsigned char* name;
    if (!r.i16(len))
      return fail("truncated topic name");
    if (len <= 0)
      return fail("topic name of length " + std::to_string(len));
    if (!r.bytes(static_cast<size_t>(len), name))
      return fail("truncated topic name");
    std::string topic(reinterpret_cast<const char*>(name), static_cast<size_t>(len));
    int32_t count;
    if (!r.i32(count))
      return fail("truncated partition count of " + topic);
    if (count < 0 || static_cast<uint64_t>(count) * 4 > r.left())
      return fail("impossible partition count " + std::to_string(count) + " of " + topic);
    for (int32_t k = 0; k < count; ++k) {
      int32_t partition;
      if (!r.i32(partition))
        return fail("truncated partitions of " + topic);
      if (partition < 0)
        return fail("negative partition " + std::to_string(partition) + " of " + topic);
      out.push_back({topic, partition});
    }
  }
  // User data: written by every version, but a member that ends the
  // assignment with its partitions is understood all the same.
  if (r.left() > 0) {
    int32_t user;
    const unsigned char* ignored;
    if (!r.i32(user))
      return fail("truncated user data length");
    if (user < -1 || (user > 0 && !r.bytes(static_cast<size_t>(user), ignored)))
      return fail("user data of length " + std::to_string(user) + " with "
                  + std::to_string(r.left()) + " byte(s) left");
  }
  return out;
}

group_state unlisted_group::observe(bool has_committed_offsets, health_clock::time_point now) {
  if (has_committed_offsets) {
    listed(); // it exists: the brokers' answer was incomplete
    return group_state::unknown;
  }
  if (!since_)
    since_ = now;
  ++probes_;
  return probes_ >= 2 && now - *since_ >= confirm_ ? group_state::dead : group_state::unknown;
}

void unlisted_group::listed() {
  since_.reset();
  probes_ = 0;
}

std::vector<std::string> subscribed_topics(const std::vector<std::string>& configured,
                                           const std::string& regex,
                                           const std::vector<std::string>& existing,
                                           const std::set<std::string>& excluded) {
  std::set<std::string> out;
  if (!regex.empty()) {
    std::regex re;
    try {
      re = std::regex(regex.front() == '^' ? regex : "^" + regex);
    } catch (const std::regex_error&) {
      return {};
    }
    for (auto& t : existing)
      if (t.rfind("__", 0) != 0 && excluded.count(t) == 0 && std::regex_search(t, re))
        out.insert(t);
  } else {
    std::set<std::string> have(existing.begin(), existing.end());
    for (auto& t : configured)
      if (have.count(t))
        out.insert(t);
  }
  return {out.begin(), out.end()};
}

std::optional<std::vector<topic_partition>>
unowned_partitions(const std::vector<topic_partition>& partitions,
                   const group_description& group) {
  std::vector<topic_partition> out;
  switch (group.state) {
    case group_state::stable: {
      std::set<topic_partition> owned;
      for (auto& m : group.members)
        owned.insert(m.assignment.begin(), m.assignment.end());
      for (auto& tp : partitions)
        if (owned.count(tp) == 0)
          out.push_back(tp);
      break;
    }
    case group_state::empty:
    case group_state::dead:
      out = partitions;
      break;
    default:
      return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int64_t resume_offset(int64_t committed, int64_t low) {
  return committed >= 0 ? std::max(committed, low) : low;
}

int64_t records_after_commit(int64_t committed, int64_t low, int64_t end) {
  return std::max<int64_t>(0, end - resume_offset(committed, low));
}

std::string describe_partitions(const std::vector<topic_partition>& tps, size_t limit) {
  auto sorted = tps;
  std::sort(sorted.begin(), sorted.end());
  std::ostringstream out;
  std::string topic;
  bool open = false;
  size_t shown = 0;
  for (auto& tp : sorted) {
    if (shown == limit)
      break;
    if (!open || tp.topic != topic) {
      if (open)
        out << "] ";
      out << tp.topic << "[" << tp.partition;
      topic = tp.topic;
      open = true;
    } else {
      out << "," << tp.partition;
    }
    ++shown;
  }
  if (open)
    out << "]";
  if (sorted.size() > shown)
    out << " ... (" << sorted.size() - shown << " more)";
  return out.str();
}

void commit_age_tracker::observe(const topic_partition& tp, int64_t committed, bool pending,
                                 health_clock::time_point now) {
  auto [it, fresh] = parts_.try_emplace(tp);
  auto& e = it->second;
  // The age restarts when the partition is seen caught up (so records that
  // arrive after a long idle time start at 0, not at the last commit) and
  // whenever its consumer commits.
  if (fresh || !pending || e.committed != committed)
    e.since = now;
  e.committed = committed;
  e.pending = pending;
}

void commit_age_tracker::retain(const std::vector<topic_partition>& current) {
  std::set<topic_partition> keep(current.begin(), current.end());
  for (auto it = parts_.begin(); it != parts_.end();)
    it = keep.count(it->first) ? std::next(it) : parts_.erase(it);
}

double commit_age_tracker::age_seconds(const topic_partition& tp,
                                       health_clock::time_point now) const {
  auto it = parts_.find(tp);
  if (it == parts_.end() || !it->second.pending)
    return 0;
  return std::max(0.0, std::chrono::duration<double>(now - it->second.since).count());
}

double commit_age_tracker::oldest_seconds(health_clock::time_point now) const {
  double oldest = 0;
  for (auto& [tp, e] : parts_)
    oldest = std::max(oldest, age_seconds(tp, now));
  return oldest;
}

std::vector<std::pair<topic_partition, double>>
commit_age_tracker::waiting(health_clock::time_point now,
                            std::chrono::milliseconds min_age) const {
  std::vector<std::pair<topic_partition, double>> out;
  const double min_s = std::chrono::duration<double>(min_age).count();
  for (auto& [tp, e] : parts_) {
    double age = age_seconds(tp, now);
    if (e.pending && age >= min_s)
      out.emplace_back(tp, age);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](auto& a, auto& b) { return a.second > b.second; });
  return out;
}

std::optional<int64_t> commit_age_tracker::committed(const topic_partition& tp) const {
  auto it = parts_.find(tp);
  if (it == parts_.end())
    return std::nullopt;
  return it->second.committed;
}

std::optional<bool> readable_cache::known(const topic_partition& tp, int64_t from,
                                          int64_t end) const {
  auto it = parts_.find(tp);
  if (it == parts_.end() || it->second.from != from)
    return std::nullopt;
  if (it->second.readable)
    return true; // a record at or after `from` stays until the consumer moves
  if (it->second.end == end)
    return false;
  return std::nullopt; // something was written since: look again
}

void readable_cache::remember(const topic_partition& tp, int64_t from, int64_t end,
                              bool readable) {
  parts_[tp] = entry{from, end, readable};
}

void readable_cache::retain(const std::vector<topic_partition>& current) {
  std::set<topic_partition> keep(current.begin(), current.end());
  for (auto it = parts_.begin(); it != parts_.end();)
    it = keep.count(it->first) ? std::next(it) : parts_.erase(it);
}

// ---------------------------------------------------------------- the probe

namespace {

struct topic_deleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct group_list_deleter {
  void operator()(const rd_kafka_group_list* l) const { rd_kafka_group_list_destroy(l); }
};
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using group_list_ptr = std::unique_ptr<const rd_kafka_group_list, group_list_deleter>;

constexpr auto log_every = std::chrono::seconds(60);

/// One probe's failure, with the reason for the log.
struct probe_error {
  std::string what;
};

/// The brokers' side of a probe: two consumer-type clients that never join
/// the group, plus the state kept between probes. Used by one thread only.
///  * rk_, with the group's isolation level: metadata, the group's
///    description (rd_kafka_list_groups: ListGroups to every broker, then
///    DescribeGroups to the one that lists the group, without the admin
///    coordinator path), watermarks, and reads ahead of committed offsets
///    with assign() (which needs the group id);
///  * offsets_rk_, read_uncommitted: the committed offsets, fetched with
///    rd_kafka_committed() through its consumer group handler (OffsetFetch
///    to the coordinator it finds). librdkafka asks for stable offsets
///    exactly when isolation.level is read_committed; under exactly-once
///    the group's offsets are almost always pending in an open transaction,
///    which a stable read waits for, and the last committed ones are what
///    the age needs.
class prober {
public:
  prober(const group_health_options& opts, group_health_status& status,
         std::function<bool()> stopping)
    : opts_(opts), status_(status), stopping_(std::move(stopping)),
      log_(module_logger("kafka")) {
    // Warn only about conditions that outlast a normal start (joining the
    // group takes a few seconds) or a rebalance.
    grace_ = std::max<std::chrono::milliseconds>(3 * opts_.interval, std::chrono::seconds(10));
  }

  void probe_once() {
    auto now = health_clock::now();
    try {
      connect();
      probe(now);
      status_.probes.fetch_add(1);
      if (failing_) {
        log_->info("group health probe of {} works again", opts_.group_id);
        failing_ = false;
      }
    } catch (const probe_error& e) {
      if (stopping_())
        return; // not a failure: the service stops
      failed(now, e.what);
    } catch (const std::exception& e) {
      failed(now, e.what());
    }
    if (rk_)
      rd_kafka_poll(rk_.get(), 0); // serves the clients' error events
    if (offsets_rk_)
      rd_kafka_poll(offsets_rk_.get(), 0);
  }

private:
  int timeout_ms() const { return static_cast<int>(opts_.request_timeout.count()); }

  void failed(health_clock::time_point now, const std::string& why) {
    status_.probe_errors.fetch_add(1);
    if (!failing_ || now - last_error_log_ >= log_every) {
      log_->warn("group health probe of {} failed (its metrics keep their last values): {}",
                 opts_.group_id, why);
      last_error_log_ = now;
    }
    failing_ = true;
  }

  /// Properties of a consumer-type client with the group's id that never
  /// subscribes (so never joins) and never commits.
  std::map<std::string, std::string> client_props() const {
    auto p = opts_.props;
    p.erase("group.instance.id");
    p.erase("transactional.id");
    p["group.id"] = opts_.group_id;
    p["enable.auto.commit"] = "false";
    p["enable.auto.offset.store"] = "false";
    p["statistics.interval.ms"] = "0";
    // The probe asks for metadata itself; a long periodic refresh meant for
    // the consumer (up to an hour) made librdkafka's leader lookups for
    // the watermark queries take seconds.
    p.erase("topic.metadata.refresh.interval.ms");
    p.erase("metadata.max.age.ms");
    return p;
  }

  void connect() {
    std::string err;
    if (!rk_) {
      auto p = client_props();
      p["enable.partition.eof"] = "true";
      p["auto.offset.reset"] = "earliest";
      p["queued.max.messages.kbytes"] = "1024";
      rk_ = make_client(RD_KAFKA_CONSUMER, p, err);
      if (!rk_)
        throw probe_error{"cannot create the client: " + err};
      // Explicit topics are asked for by name ("locally known topics"); a
      // regex needs the whole cluster's list.
      if (opts_.topics_regex.empty())
        for (auto& t : opts_.topics)
          topics_.emplace_back(rd_kafka_topic_new(rk_.get(), t.c_str(), nullptr));
    }
    if (!offsets_rk_) {
      auto p = client_props();
      p["isolation.level"] = "read_uncommitted"; // OffsetFetch without require_stable
      offsets_rk_ = make_client(RD_KAFKA_CONSUMER, p, err);
      if (!offsets_rk_)
        throw probe_error{"cannot create the offsets client: " + err};
    }
  }

  void probe(health_clock::time_point now) {
    auto partitions = subscribed_partitions();
    bool listed = true;
    auto group = describe_group(listed);
    auto committed = committed_offsets(partitions);
    if (listed) {
      unlisted_.listed();
    } else {
      bool has_offsets = std::any_of(committed.begin(), committed.end(),
                                     [](auto& c) { return c.second >= 0; });
      group.state = unlisted_.observe(has_offsets, now);
    }
    auto unowned = unowned_partitions(partitions, group);

    std::vector<std::pair<topic_partition, int64_t>> to_read; // from
    struct view {
      int64_t committed, from, end, waiting;
    };
    std::map<topic_partition, view> views;
    std::map<topic_partition, bool> pending;
    for (auto& tp : partitions) {
      check_stop();
      int64_t lo = 0, hi = 0;
      watermarks(tp, lo, hi);
      int64_t c = committed[tp];
      view v{c, resume_offset(c, lo), hi, records_after_commit(c, lo, hi)};
      views[tp] = v;
      if (v.waiting == 0) {
        pending[tp] = false;
      } else if (tracker_.committed(tp) != c) {
        pending[tp] = true; // moving (or first seen): the age starts over anyway
      } else if (auto k = readable_.known(tp, v.from, v.end)) {
        pending[tp] = *k;
      } else {
        pending[tp] = true; // unless a read shows only markers follow
        to_read.emplace_back(tp, v.from);
      }
    }
    if (!to_read.empty())
      for (auto& [tp, readable] : read_ahead(to_read)) {
        pending[tp] = readable;
        readable_.remember(tp, views[tp].from, views[tp].end, readable);
      }
    for (auto& [tp, p] : pending)
      tracker_.observe(tp, views[tp].committed, p, now);
    tracker_.retain(partitions);
    readable_.retain(partitions);

    if (unowned)
      status_.unowned_partitions.store(static_cast<int64_t>(unowned->size()));
    status_.state.store(static_cast<int>(group.state));
    status_.oldest_commit_age_seconds.store(tracker_.oldest_seconds(now));

    if (unowned)
      log_unowned(*unowned, group, now);
    log_waiting(views, now);
  }

  void check_stop() const {
    if (stopping_())
      throw probe_error{"stopping"};
  }

  /// Low and end offset (read_committed: the last stable offset). A
  /// leader that just moved (a new topic, a broker restart) is asked again.
  void watermarks(const topic_partition& tp, int64_t& lo, int64_t& hi) {
    for (int i = 0;; ++i) {
      auto e = rd_kafka_query_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition, &lo,
                                                &hi, timeout_ms());
      if (!e)
        return;
      bool moving = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
                    || e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE
                    || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      if (!moving || i == 2)
        throw probe_error{"watermarks of " + tp.topic + " [" + std::to_string(tp.partition)
                          + "]: " + rd_kafka_err2str(e)};
      check_stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  std::vector<topic_partition> subscribed_partitions() {
    const rd_kafka_metadata_t* md = nullptr;
    auto err = rd_kafka_metadata(rk_.get(), opts_.topics_regex.empty() ? 0 : 1, nullptr, &md,
                                 timeout_ms());
    if (err)
      throw probe_error{std::string("metadata: ") + rd_kafka_err2str(err)};
    metadata_ptr owned{md};
    std::vector<std::string> existing;
    std::map<std::string, const rd_kafka_metadata_topic_t*> by_name;
    for (int i = 0; i < md->topic_cnt; ++i) {
      auto& t = md->topics[i];
      if (t.err || t.partition_cnt <= 0)
        continue; // e.g. deleted: no partition anyone could own
      existing.emplace_back(t.topic);
      by_name[t.topic] = &t;
    }
    std::vector<topic_partition> out;
    for (auto& name : subscribed_topics(opts_.topics, opts_.topics_regex, existing,
                                        opts_.excluded)) {
      auto* t = by_name[name];
      for (int p = 0; p < t->partition_cnt; ++p)
        out.push_back({name, t->partitions[p].id});
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  /// The group coordinator moves (or loads a new group, or is not known
  /// yet on a broker that just started) now and then: librdkafka 2.0
  /// reports that instead of asking the new one.
  static bool coordinator_moving(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR
           || e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS
           || e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
  }

  /// Runs `attempt` (which returns nothing when done, or the error for
  /// the log when the group coordinator moves) again after a short pause
  /// while the coordinator moves, for up to request_timeout.
  template <class F>
  void with_coordinator_retries(F attempt) {
    const auto pause = std::chrono::milliseconds(250);
    const auto deadline = health_clock::now() + opts_.request_timeout;
    for (;;) {
      check_stop();
      auto moving = attempt();
      if (!moving)
        return;
      if (health_clock::now() + pause >= deadline)
        throw probe_error{*moving};
      std::this_thread::sleep_for(pause);
    }
  }

  static std::string str(const char* s) { return s ? s : ""; }

  /// The group's state and members' assignments, from the DescribeGroups
  /// answer of its coordinator; `listed` false (and nothing else known)
  /// when no broker lists the group (see unlisted_group).
  group_description describe_group(bool& listed) {
    group_description out;
    with_coordinator_retries([&]() -> std::optional<std::string> {
      const rd_kafka_group_list* raw = nullptr;
      auto err = rd_kafka_list_groups(rk_.get(), opts_.group_id.c_str(), &raw, timeout_ms());
      group_list_ptr list{raw};
      // _PARTIAL: some broker did not answer ListGroups in time, but the
      // one that lists the group (its coordinator) described it.
      if (err && err != RD_KAFKA_RESP_ERR__PARTIAL) {
        std::string why = std::string("describe group: ") + rd_kafka_err2str(err);
        if (coordinator_moving(err))
          return why;
        throw probe_error{why};
      }
      const rd_kafka_group_info* found = nullptr;
      for (int i = 0; list && i < list->group_cnt; ++i) {
        auto& g = list->groups[i];
        if (str(g.group) != opts_.group_id)
          continue;
        if (!found || (found->err && !g.err))
          found = &g; // while it moves, the old coordinator may list it too
      }
      if (!found) {
        if (err) // not every broker answered: the one that lists it may not have
          throw probe_error{std::string("describe group: ") + rd_kafka_err2str(err)};
        listed = false;
        return std::nullopt;
      }
      if (found->err) {
        std::string why = std::string("describe group: ") + rd_kafka_err2str(found->err);
        if (coordinator_moving(found->err))
          return why;
        throw probe_error{why};
      }
      out = describe(*found);
      return std::nullopt;
    });
    return out;
  }

  static group_description describe(const rd_kafka_group_info& g) {
    group_description out;
    out.state = parse_group_state(str(g.state));
    // Assignments are a consumer group's ("consumer") or none yet ("": no
    // member joined since the group was created by committing offsets).
    auto type = str(g.protocol_type);
    if (g.member_cnt > 0 && !type.empty() && type != "consumer")
      throw probe_error{"describe group: protocol type \"" + type + "\", not a consumer group"};
    for (int i = 0; i < g.member_cnt; ++i) {
      auto& m = g.members[i];
      group_member gm;
      gm.member_id = str(m.member_id);
      gm.client_id = str(m.client_id);
      gm.host = str(m.client_host);
      std::string why;
      auto size = m.member_assignment_size > 0 ? static_cast<size_t>(m.member_assignment_size) : 0;
      auto assignment = decode_member_assignment(m.member_assignment, size, &why);
      if (!assignment)
        throw probe_error{"describe group: the assignment of member " + gm.member_id + ": " + why};
      gm.assignment = std::move(*assignment);
      out.members.push_back(std::move(gm));
    }
    return out;
  }

  /// Committed offsets (-1: none), as last committed: not require_stable
  /// (offsets_rk_ is read_uncommitted; see the class comment).
  std::map<topic_partition, int64_t> committed_offsets(const std::vector<topic_partition>& tps) {
    std::map<topic_partition, int64_t> out;
    if (tps.empty())
      return out;
    check_stop();
    with_coordinator_retries([&]() -> std::optional<std::string> {
      partition_list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()))};
      for (auto& tp : tps)
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
      auto err = rd_kafka_committed(offsets_rk_.get(), list.get(), timeout_ms());
      if (err) {
        std::string why = std::string("committed offsets: ") + rd_kafka_err2str(err);
        if (coordinator_moving(err))
          return why;
        throw probe_error{why};
      }
      for (int i = 0; i < list->cnt; ++i) {
        auto& e = list->elems[i];
        if (e.err) {
          std::string why = std::string("committed offset of ") + e.topic + " ["
                            + std::to_string(e.partition) + "]: " + rd_kafka_err2str(e.err);
          if (coordinator_moving(e.err))
            return why;
          throw probe_error{why};
        }
        out[{e.topic, e.partition}] = e.offset >= 0 ? e.offset : -1;
      }
      return std::nullopt;
    });
    for (auto& tp : tps)
      out.try_emplace(tp, -1);
    return out;
  }

  /// For each partition, whether a record can be read at or after `from`
  /// (read with the group's isolation level, so transaction markers and
  /// aborted records do not count). Partitions without an answer within
  /// the request timeout are left out (the caller assumes records wait).
  std::map<topic_partition, bool>
  read_ahead(const std::vector<std::pair<topic_partition, int64_t>>& from) {
    std::map<topic_partition, bool> out;
    partition_list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(from.size()))};
    std::set<topic_partition> wanted;
    for (auto& [tp, offset] : from) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset
        = offset;
      wanted.insert(tp);
    }
    if (auto e = rd_kafka_assign(rk_.get(), list.get())) {
      log_->debug("group health: cannot read ahead: {}", rd_kafka_err2str(e));
      return out;
    }
    auto deadline = health_clock::now() + opts_.request_timeout;
    while (out.size() < wanted.size() && health_clock::now() < deadline && !stopping_()) {
      message_ptr m{rd_kafka_consumer_poll(rk_.get(), 100)};
      if (!m || !m->rkt)
        continue;
      topic_partition tp{rd_kafka_topic_name(m->rkt), m->partition};
      if (!wanted.count(tp) || out.count(tp))
        continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        out[tp] = false;
      else
        out[tp] = true; // a record (or an error that does not tell: assume one)
    }
    rd_kafka_assign(rk_.get(), nullptr);
    return out;
  }

  void log_unowned(const std::vector<topic_partition>& unowned, const group_description& group,
                   health_clock::time_point now) {
    if (unowned.empty()) {
      if (unowned_logged_)
        log_->info("every partition of the subscribed topics has an owner in group {} again",
                   opts_.group_id);
      unowned_since_.reset();
      unowned_logged_ = false;
      status_.unowned_for_ms.store(0);
      return;
    }
    if (!unowned_since_)
      unowned_since_ = now;
    status_.unowned_for_ms.store(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - *unowned_since_).count());
    if (now - *unowned_since_ < grace_)
      return;
    if (unowned_logged_ && unowned == last_unowned_ && now - last_unowned_log_ < log_every)
      return;
    log_->warn("{} partition(s) of the subscribed topics have no owner in consumer group {} "
               "(state {}, {} member(s)) for {}s: {}",
               unowned.size(), opts_.group_id, group_state_name(group.state),
               group.members.size(),
               std::chrono::duration_cast<std::chrono::seconds>(now - *unowned_since_).count(),
               describe_partitions(unowned));
    unowned_logged_ = true;
    last_unowned_ = unowned;
    last_unowned_log_ = now;
  }

  template <class Views>
  void log_waiting(const Views& views, health_clock::time_point now) {
    auto waiting = tracker_.waiting(now, grace_);
    if (waiting.empty()) {
      if (waiting_logged_)
        log_->info("committed offsets of group {} move again", opts_.group_id);
      waiting_logged_ = false;
      return;
    }
    std::vector<topic_partition> tps;
    for (auto& w : waiting)
      tps.push_back(w.first);
    std::sort(tps.begin(), tps.end());
    if (waiting_logged_ && tps == last_waiting_ && now - last_waiting_log_ < log_every)
      return;
    std::ostringstream detail;
    size_t shown = 0;
    for (auto& [tp, age] : waiting) {
      if (shown++ == 20) {
        detail << ", ... (" << waiting.size() - 20 << " more)";
        break;
      }
      auto& v = views.at(tp);
      detail << (shown > 1 ? ", " : "") << tp.topic << "[" << tp.partition << "] "
             << static_cast<int64_t>(age) << "s (committed " << v.committed << ", "
             << v.waiting << " after it)";
    }
    log_->warn("{} partition(s) of group {} have records waiting behind a committed offset "
               "that does not move: {}",
               waiting.size(), opts_.group_id, detail.str());
    waiting_logged_ = true;
    last_waiting_ = tps;
    last_waiting_log_ = now;
  }

  const group_health_options& opts_;
  group_health_status& status_;
  std::function<bool()> stopping_;
  std::shared_ptr<spdlog::logger> log_;
  std::chrono::milliseconds grace_;
  // Handles first: the topic handles go before the client (handles.hpp).
  client_ptr rk_;
  client_ptr offsets_rk_;
  std::vector<topic_ptr> topics_;
  unlisted_group unlisted_;
  commit_age_tracker tracker_;
  readable_cache readable_;
  bool failing_ = false;
  health_clock::time_point last_error_log_;
  std::optional<health_clock::time_point> unowned_since_;
  bool unowned_logged_ = false;
  std::vector<topic_partition> last_unowned_;
  health_clock::time_point last_unowned_log_;
  bool waiting_logged_ = false;
  std::vector<topic_partition> last_waiting_;
  health_clock::time_point last_waiting_log_;
};

} // namespace

group_health::group_health(group_health_options opts,
                           std::shared_ptr<group_health_status> status)
  : opts_(std::move(opts)), status_(std::move(status)) {
  thread_ = std::thread([this] { run(); });
}

group_health::~group_health() {
  request_stop();
  if (thread_.joinable())
    thread_.join();
}

void group_health::request_stop() {
  {
    std::lock_guard<std::mutex> g{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
}

void group_health::run() {
  prober p(opts_, *status_, [this] { return stop_.load(); });
  std::unique_lock<std::mutex> lk{mtx_};
  while (!stop_) {
    lk.unlock();
    p.probe_once();
    lk.lock();
    cv_.wait_for(lk, opts_.interval, [this] { return stop_.load(); });
  }
}

} // namespace wcoord::kafka

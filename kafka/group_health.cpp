#include "kafka/group_health.hpp"

#include <algorithm>
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
struct options_deleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using admin_options_ptr = std::unique_ptr<rd_kafka_AdminOptions_t, options_deleter>;

constexpr auto log_every = std::chrono::seconds(60);

/// One probe's failure, with the reason for the log.
struct probe_error {
  std::string what;
};

/// The brokers' side of a probe: one consumer-type client that never joins
/// the group (it uses the group id only to find the coordinator and to read
/// ahead of committed offsets with assign()), plus the state kept between
/// probes. Used by one thread only.
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
      rd_kafka_poll(rk_.get(), 0); // serves the client's error events
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

  void connect() {
    if (rk_)
      return;
    auto p = opts_.props;
    p.erase("group.instance.id");
    p.erase("transactional.id");
    p["group.id"] = opts_.group_id; // never subscribes: it does not join
    p["enable.auto.commit"] = "false";
    p["enable.auto.offset.store"] = "false";
    p["enable.partition.eof"] = "true";
    p["auto.offset.reset"] = "earliest";
    p["statistics.interval.ms"] = "0";
    p["queued.max.messages.kbytes"] = "1024";
    // The probe asks for metadata itself; a long periodic refresh meant for
    // the consumer (up to an hour) made librdkafka's leader lookups for
    // the watermark queries take seconds.
    p.erase("topic.metadata.refresh.interval.ms");
    p.erase("metadata.max.age.ms");
    std::string err;
    rk_ = make_client(RD_KAFKA_CONSUMER, p, err);
    if (!rk_)
      throw probe_error{"cannot create the client: " + err};
    // Explicit topics are asked for by name ("locally known topics"); a
    // regex needs the whole cluster's list.
    if (opts_.topics_regex.empty())
      for (auto& t : opts_.topics)
        topics_.emplace_back(rd_kafka_topic_new(rk_.get(), t.c_str(), nullptr));
  }

  void probe(health_clock::time_point now) {
    auto partitions = subscribed_partitions();
    auto group = describe_group();
    auto unowned = unowned_partitions(partitions, group);
    auto committed = committed_offsets(partitions);

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

  admin_options_ptr admin_options(rd_kafka_admin_op_t op) {
    admin_options_ptr o{rd_kafka_AdminOptions_new(rk_.get(), op)};
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(o.get(), timeout_ms(), errstr, sizeof(errstr));
    return o;
  }

  /// Waits for the single result of an admin request on its own queue.
  event_ptr await(rd_kafka_queue_t* q, const char* what) {
    // librdkafka answers with a timeout error after request_timeout; wait
    // a little longer than that for its answer.
    event_ptr ev{rd_kafka_queue_poll(q, timeout_ms() + 2000)};
    if (!ev)
      throw probe_error{std::string(what) + ": no answer"};
    if (rd_kafka_event_error(ev.get()))
      throw probe_error{std::string(what) + ": " + rd_kafka_event_error_string(ev.get())};
    return ev;
  }

  /// The group coordinator moves (or loads a new group) now and then:
  /// librdkafka 2.0 reports that instead of asking the new one.
  static bool coordinator_moving(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR
           || e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS
           || e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
  }

  /// Runs `attempt` (which returns true when done) again, after a short
  /// pause, while the group coordinator moves.
  template <class F>
  void with_coordinator_retries(F attempt) {
    for (int i = 0;; ++i) {
      check_stop();
      if (attempt(i == 2))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  group_description describe_group() {
    group_description out;
    with_coordinator_retries([&](bool last) {
      queue_ptr q{rd_kafka_queue_new(rk_.get())};
      auto o = admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
      const char* groups[] = {opts_.group_id.c_str()};
      rd_kafka_DescribeConsumerGroups(rk_.get(), groups, 1, o.get(), q.get());
      auto ev = await(q.get(), "describe group");
      auto* res = rd_kafka_event_DescribeConsumerGroups_result(ev.get());
      size_t n = 0;
      auto** descs = res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : nullptr;
      if (n != 1)
        throw probe_error{"describe group: no description of " + opts_.group_id};
      if (auto* e = rd_kafka_ConsumerGroupDescription_error(descs[0])) {
        if (!last && coordinator_moving(rd_kafka_error_code(e)))
          return false;
        throw probe_error{std::string("describe group: ") + rd_kafka_error_string(e)};
      }
      out = describe(descs[0]);
      return true;
    });
    return out;
  }

  static group_description describe(const rd_kafka_ConsumerGroupDescription_t* d) {
    group_description out;
    auto state = static_cast<int>(rd_kafka_ConsumerGroupDescription_state(d));
    out.state = state >= 0 && state < group_state_count ? static_cast<group_state>(state)
                                                          : group_state::unknown;
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t i = 0; i < members; ++i) {
      auto* m = rd_kafka_ConsumerGroupDescription_member(d, i);
      group_member gm;
      gm.member_id = rd_kafka_MemberDescription_consumer_id(m);
      gm.client_id = rd_kafka_MemberDescription_client_id(m);
      gm.host = rd_kafka_MemberDescription_host(m);
      if (auto* a = rd_kafka_MemberDescription_assignment(m))
        if (auto* list = rd_kafka_MemberAssignment_partitions(a))
          for (int k = 0; k < list->cnt; ++k)
            gm.assignment.push_back({list->elems[k].topic, list->elems[k].partition});
      out.members.push_back(std::move(gm));
    }
    return out;
  }

  /// Committed offsets (-1: none). Not require_stable: under exactly-once
  /// the group's offsets are almost always pending in an open transaction,
  /// and a stable read would wait for it; the last committed ones are what
  /// the age needs.
  std::map<topic_partition, int64_t> committed_offsets(const std::vector<topic_partition>& tps) {
    std::map<topic_partition, int64_t> out;
    if (tps.empty())
      return out;
    check_stop();
    partition_list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()))};
    for (auto& tp : tps)
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    with_coordinator_retries([&](bool last) {
      queue_ptr q{rd_kafka_queue_new(rk_.get())};
      auto o = admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
      error_ptr stable_err{rd_kafka_AdminOptions_set_require_stable_offsets(o.get(), 0)};
      auto* req = rd_kafka_ListConsumerGroupOffsets_new(opts_.group_id.c_str(), list.get());
      rd_kafka_ListConsumerGroupOffsets(rk_.get(), &req, 1, o.get(), q.get());
      rd_kafka_ListConsumerGroupOffsets_destroy(req);
      auto ev = await(q.get(), "committed offsets");
      auto* res = rd_kafka_event_ListConsumerGroupOffsets_result(ev.get());
      size_t n = 0;
      auto** groups = res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : nullptr;
      if (n != 1)
        throw probe_error{"committed offsets: no answer for " + opts_.group_id};
      if (auto* e = rd_kafka_group_result_error(groups[0])) {
        if (!last && coordinator_moving(rd_kafka_error_code(e)))
          return false;
        throw probe_error{std::string("committed offsets: ") + rd_kafka_error_string(e)};
      }
      auto* parts = rd_kafka_group_result_partitions(groups[0]);
      for (int i = 0; parts && i < parts->cnt; ++i) {
        auto& e = parts->elems[i];
        if (e.err) {
          if (!last && coordinator_moving(e.err))
            return false;
          throw probe_error{std::string("committed offset of ") + e.topic + " ["
                            + std::to_string(e.partition) + "]: " + rd_kafka_err2str(e.err)};
        }
        out[{e.topic, e.partition}] = e.offset >= 0 ? e.offset : -1;
      }
      return true;
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
  std::vector<topic_ptr> topics_;
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

#include "kafka/consumer_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <cstdlib>
#include <optional>
#include <set>
#include <thread>

#include <simdjson.h>

#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"
#include "actors/pipeline.hpp"
#include "engine/input_format.hpp"
#include "kafka/changelog_restore.hpp"
#include "kafka/consumer_settings.hpp"
#include "kafka/handles.hpp"
#include "kafka/queue_wakeup.hpp"
#include "kafka/transaction_context.hpp"
#include "support/logging.hpp"

namespace wcoord::kafka {

namespace {

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

struct consumer_state {
  consumer_options opts;
  /// Copies of the pipeline's handles: the pipeline object itself may be
  /// gone before this actor at shutdown.
  pipeline_handles engine;
  std::unique_ptr<submitter> feed; // declared before rk: flushed in callbacks
  std::shared_ptr<offset_tracker> tracker;
  std::shared_ptr<consumer_status> status;
  /// Reads each record in its topic's format (set from opts at start).
  std::unique_ptr<record_decoder> decoder;
  std::set<topic_partition> assigned;
  /// One librdkafka queue per assigned partition, detached from the
  /// consumer queue, so each partition is read only while it has room.
  std::map<topic_partition, queue_ptr> queues;
  /// The consumer queue: rebalances, errors, statistics.
  queue_ptr consumer_queue;
  /// Signals the idle poll loop when any of those queues receives
  /// something. Outlives rk, whose threads write to it.
  std::unique_ptr<queue_wakeup> wakeup = std::make_unique<queue_wakeup>();
  std::map<topic_partition, int64_t> committed;
  std::chrono::steady_clock::time_point next_commit;
  std::chrono::steady_clock::time_point commit_started;
  std::chrono::steady_clock::time_point next_metadata;
  /// Set by drain_and_close: the one deadline of the whole shutdown, which
  /// the revoke that closing triggers respects too.
  std::optional<std::chrono::steady_clock::time_point> closing_deadline;
  bool closing = false;
  /// Brokers up in the last statistics (-1 before the first).
  int brokers_up = -1;
  /// Exactly once: a revocation left work undecided or uncommitted; the
  /// poll loop rewinds before reading anything else.
  bool rewind_pending = false;
  std::shared_ptr<spdlog::logger> log = module_logger("kafka");
  client_ptr rk; // last member: destroyed first, after close()
  static inline const char* name = "wcoord.kafka.consumer";

  ~consumer_state() {
    if (rk && !closing)
      rd_kafka_consumer_close(rk.get());
    queues.clear(); // queues must be gone before the handle is destroyed
    consumer_queue.reset();
  }
};

using consumer_pointer = caf::stateful_actor<consumer_state>*;

std::vector<topic_partition> to_vector(const rd_kafka_topic_partition_list_t* l) {
  std::vector<topic_partition> out;
  for (int i = 0; i < l->cnt; ++i)
    out.push_back({l->elems[i].topic, l->elems[i].partition});
  return out;
}

/// A commit the broker refused: counted, logged, retried at the next interval.
void commit_failed(consumer_state& st, rd_kafka_resp_err_t err,
                   const rd_kafka_topic_partition_list_t* offsets) {
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
    return;
  st.status->commit_failures.fetch_add(1);
  st.log->warn("commit failed: {}", rd_kafka_err2str(err));
  for (int i = 0; offsets && i < offsets->cnt; ++i)
    st.committed.erase({offsets->elems[i].topic, offsets->elems[i].partition});
}

/// Commits the committable offset of `tps` (all assigned if empty) when it
/// moved. Synchronous before giving partitions up, asynchronous otherwise.
void commit(consumer_state& st, const std::vector<topic_partition>& tps, bool sync) {
  if (st.opts.transactions)
    return; // offsets commit inside the publisher's transactions
  partition_list_ptr list{rd_kafka_topic_partition_list_new(8)};
  auto consider = [&](const topic_partition& tp) {
    auto p = st.tracker->progress(tp);
    if (!p || p->committable < 0)
      return;
    auto& last = st.committed[tp];
    // A synchronous commit (before giving partitions up) is sent even when
    // an asynchronous one of the same offset is still on its way: returning
    // early would let the next owner read the older offset meanwhile.
    if (p->committable < last || (!sync && p->committable == last))
      return;
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)
      ->offset = p->committable;
    last = p->committable;
  };
  if (tps.empty())
    for (auto& tp : st.assigned)
      consider(tp);
  else
    for (auto& tp : tps)
      consider(tp);
  if (list->cnt == 0)
    return;
  st.commit_started = std::chrono::steady_clock::now();
  // The outcome, sync or async, arrives through commit_cb; only a commit
  // that could not even be sent is handled here.
  if (auto err = rd_kafka_commit(st.rk.get(), list.get(), sync ? 0 : 1))
    commit_failed(st, err, list.get());
}

std::string describe(const std::vector<topic_partition>& tps) {
  std::map<std::string, std::string> by_topic;
  for (auto& tp : tps) {
    auto& s = by_topic[tp.topic];
    s += (s.empty() ? "" : ",") + std::to_string(tp.partition);
  }
  std::string out;
  for (auto& [topic, parts] : by_topic)
    out += (out.empty() ? "" : " ") + topic + "[" + parts + "]";
  return out;
}

/// The group's committed offsets of `tps` (require_stable under exactly
/// once: waits while a transaction with offsets for them is pending).
/// Retried while the broker does not answer, up to `deadline`.
std::optional<std::map<topic_partition, int64_t>>
fetch_committed(consumer_state& st, const std::vector<topic_partition>& tps,
                std::chrono::steady_clock::time_point deadline) {
  std::map<topic_partition, int64_t> out;
  if (tps.empty())
    return out;
  for (;;) {
    partition_list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()))};
    for (auto& tp : tps)
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    auto err = rd_kafka_committed(st.rk.get(), list.get(), 10000);
    for (int i = 0; !err && i < list->cnt; ++i)
      err = list->elems[i].err;
    if (!err) {
      for (int i = 0; i < list->cnt; ++i)
        out[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
      return out;
    }
    st.log->warn("committed offsets of {} not available yet ({}); retrying", describe(tps),
                 rd_kafka_err2str(err));
    // Waiting on the broker is not a stalled loop (/healthz).
    st.status->last_poll_ms = steady_ms();
    if (std::chrono::steady_clock::now() >= deadline || st.status->fatal)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // broker backoff
  }
}

/// Exactly once: forgets every decision not committed yet and continues
/// from the committed offsets (see kafka/transaction_context.hpp). Runs
/// on the consumer's thread; `lock` holds the transaction commit lock and
/// is released here.
void rewind(consumer_state& st, std::unique_lock<std::timed_mutex>& lock, const char* why) {
  auto& txn = *st.opts.transactions;
  if (st.feed)
    st.feed->flush();
  auto epoch = txn.next_epoch();
  for (auto& s : st.engine.shards)
    caf::anon_send(s, reset_atom_v, epoch);
  for (auto& tp : st.assigned) {
    st.tracker->revoke(tp);
    st.tracker->assign(tp, -1);
    txn.published->revoke(tp);
    txn.published->assign(tp, -1);
  }
  lock.unlock();
  std::vector<topic_partition> tps(st.assigned.begin(), st.assigned.end());
  // Nothing of these partitions is read until the seek below (this thread
  // is their only reader), so waiting for the broker here holds them still.
  auto offsets = fetch_committed(st, tps, std::chrono::steady_clock::now()
                                            + std::chrono::minutes(10));
  if (!offsets) {
    st.log->critical("rewind: the committed offsets cannot be read; stopping");
    st.status->fatal = true;
    return;
  }
  partition_list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()))};
  for (auto& [tp, offset] : *offsets)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset
      = offset >= 0 ? offset : RD_KAFKA_OFFSET_BEGINNING;
  if (list->cnt > 0) {
    // Seeking bumps the partitions' fetch version: records of the old
    // position still queued are discarded by librdkafka.
    error_ptr err{rd_kafka_seek_partitions(st.rk.get(), list.get(), 10000)};
    auto failed = err ? RD_KAFKA_RESP_ERR__FAIL : RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; !failed && i < list->cnt; ++i)
      failed = list->elems[i].err;
    if (failed) {
      st.log->critical("rewind: seek failed: {}",
                       err ? rd_kafka_error_string(err.get()) : rd_kafka_err2str(failed));
      st.status->fatal = true;
      return;
    }
  }
  st.status->rewinds.fetch_add(1);
  txn.update_group_metadata(st.rk.get());
  txn.rewound();
  st.log->warn("{}: uncommitted decisions dropped, {} rewound to the committed offsets "
               "(epoch {})", why, describe(tps), epoch);
}

/// Waits until `tps` have no unfinished records; under exactly once gives
/// up early when the open transaction was aborted (none of its work will
/// finish; it is decided again by whoever owns the partition next).
bool wait_drained(consumer_state& st, const std::vector<topic_partition>& tps,
                  std::chrono::steady_clock::time_point deadline) {
  auto* txn = st.opts.transactions.get();
  for (;;) {
    auto slice = std::min(deadline, std::chrono::steady_clock::now()
                                      + std::chrono::milliseconds(50));
    if (st.tracker->wait_drained(tps, slice))
      return true;
    if (std::chrono::steady_clock::now() >= deadline || (txn && txn->rewind_requested()))
      return false;
  }
}

void on_revoke(consumer_state& st, rd_kafka_topic_partition_list_t* parts,
               bool cooperative) {
  auto tps = to_vector(parts);
  const bool lost = rd_kafka_assignment_lost(st.rk.get());
  auto* txn = st.opts.transactions.get();
  if (st.feed)
    st.feed->flush();
  // Transactions committed while we drain carry this rebalance's generation.
  // Not while closing: librdkafka answers that request from its main
  // thread, which is busy closing the group then.
  if (txn && !st.closing_deadline)
    txn->update_group_metadata(st.rk.get());
  bool drained = false;
  auto deadline = st.closing_deadline ? *st.closing_deadline
                                      : std::chrono::steady_clock::now() + st.opts.drain_timeout;
  if (!lost) {
    // Finish what was dispatched for these partitions, then commit it, so
    // the next owner starts exactly after the last finished record.
    drained = wait_drained(st, tps, deadline);
    if (!drained)
      st.log->warn("revocation: {} not drained in time; the next owner decides "
                   "their unfinished records again", describe(tps));
    commit(st, tps, true);
  } else {
    st.log->warn("assignment lost: {} given up without commit", describe(tps));
  }
  std::unique_lock<std::timed_mutex> lock;
  if (txn) {
    // Hand over with no transaction in flight when we can. When we cannot
    // (the broker is away and the publisher waits for it), the next
    // owner's restore still waits for stable offsets, so a transaction that
    // completes later is seen all the same.
    lock = std::unique_lock<std::timed_mutex>{txn->commit_lock(), std::defer_lock};
    auto until = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (!lock.try_lock_until(until))
      st.log->warn("revocation: a transaction is still in flight; giving {} up anyway",
                   describe(tps));
  }
  for (auto& s : st.engine.shards)
    caf::anon_send(s, drain_atom_v, tps);
  for (auto& tp : tps) {
    st.status->forget(tp);
    st.tracker->revoke(tp);
    if (txn)
      txn->published->revoke(tp);
    st.assigned.erase(tp);
    if (auto q = st.queues.find(tp); q != st.queues.end()) {
      st.wakeup->unwatch(q->second.get());
      st.queues.erase(q); // before unassign: the queue belongs to the partition
    }
    st.committed.erase(tp);
  }
  if (lock.owns_lock())
    lock.unlock();
  // Undrained work of these partitions may sit in document actors (whose
  // state then runs ahead of the store) and in the publisher: a new epoch
  // must discard all of it before anything more is read, and the
  // partitions we keep continue from their committed offsets. Done by the
  // poll loop, outside this callback. Not when closing: nothing is read.
  if (txn && !drained && !st.closing_deadline)
    st.rewind_pending = true;
  if (cooperative)
    error_ptr{rd_kafka_incremental_unassign(st.rk.get(), parts)};
  else
    rd_kafka_assign(st.rk.get(), nullptr);
}

/// Catches the local store up with the changelog for newly assigned
/// partitions before any of their records is decided (contract §7).
/// Returns the committed offsets the restore trusted: reading must start
/// exactly there, or a record restored as untrusted would be skipped by
/// both the restore and the replay.
std::map<topic_partition, int64_t> restore(consumer_state& st,
                                           const std::vector<topic_partition>& tps) {
  if (st.opts.changelog_topic.empty())
    return {};
  std::set<int32_t> partitions;
  for (auto& tp : tps)
    partitions.insert(tp.partition); // co-partitioned: one changelog partition each
  st.status->ready = false;
  st.status->restoring = true;
  for (auto& tp : tps)
    st.status->update(tp, [](auto& v) { v.restore_ratio = 0.0; });
  // Trust only what the committed offsets vouch for (changelog_restore.hpp).
  // Asked first: under exactly once this waits for a transaction that may
  // still be completing, so the restore then sees all of its records.
  auto known = fetch_committed(st, tps, std::chrono::steady_clock::now()
                                          + std::chrono::minutes(2));
  if (!known) {
    st.log->critical("restore: the committed offsets cannot be read");
    st.status->fatal = true;
    return {};
  }
  committed_lookup committed = [&](const topic_partition& tp) -> std::optional<int64_t> {
    auto i = known->find(tp);
    if (i == known->end()) { // an input partition that is not ours: ask
      auto more = fetch_committed(st, {tp}, std::chrono::steady_clock::now()
                                              + std::chrono::seconds(30));
      i = known->emplace(tp, more ? more->at(tp) : RD_KAFKA_OFFSET_INVALID).first;
    }
    if (i->second < 0)
      return std::nullopt;
    return i->second;
  };
  for (auto p : partitions) {
    restore_result r;
    restore_progress progress;
    auto started = std::chrono::steady_clock::now();
    if (auto err = restore_partition(st.opts.client_props, st.engine.store,
                                     st.opts.changelog_topic, p, committed, r, &progress)) {
      // Deciding on a stale store would be wrong: give up the process and
      // let the restart (or another instance) try again.
      st.log->critical("restore failed: {}", *err);
      st.status->fatal = true;
      return {};
    }
    st.status->restored_records.fetch_add(r.records - r.untrusted);
    for (auto& tp : tps)
      if (tp.partition == p)
        st.status->update(tp, [](auto& v) { v.restore_ratio = 1.0; });
    if (r.records > 0)
      st.log->info("restored {} changelog record(s) of {}/{} [{}..{}) in {} ms; {} past "
                   "the committed offsets left to the replay",
                   r.records - r.untrusted, st.opts.changelog_topic, p, r.from, r.to,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count(),
                   r.untrusted);
  }
  return *known;
}

void on_assign(consumer_state& st, rd_kafka_topic_partition_list_t* parts,
               bool cooperative) {
  auto tps = to_vector(parts);
  auto start = restore(st, tps);
  st.status->restoring = false;
  for (int i = 0; i < parts->cnt; ++i) {
    auto at = start.find({parts->elems[i].topic, parts->elems[i].partition});
    if (at != start.end() && at->second >= 0)
      parts->elems[i].offset = at->second;
  }
  for (auto& tp : tps) {
    st.assigned.insert(tp);
    st.tracker->assign(tp, -1);
    if (st.opts.transactions)
      st.opts.transactions->published->assign(tp, -1);
  }
  if (cooperative) {
    error_ptr err{rd_kafka_incremental_assign(st.rk.get(), parts)};
    if (err)
      st.log->error("incremental assign of {} failed: {}", describe(tps),
                    rd_kafka_error_string(err.get()));
  } else if (auto err = rd_kafka_assign(st.rk.get(), parts)) {
    st.log->error("assign of {} failed: {}", describe(tps), rd_kafka_err2str(err));
  }
  for (auto& tp : tps) {
    queue_ptr q{rd_kafka_queue_get_partition(st.rk.get(), tp.topic.c_str(), tp.partition)};
    if (!q)
      continue; // stays on the consumer queue, read there without a limit
    rd_kafka_queue_forward(q.get(), nullptr);
    st.wakeup->watch(q.get());
    st.queues[tp] = std::move(q);
  }
}

void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                  rd_kafka_topic_partition_list_t* parts, void* opaque) {
  // Runs inside rd_kafka_consumer_poll, on the consumer actor's thread.
  auto& st = *static_cast<consumer_state*>(opaque);
  const bool cooperative = std::string(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  st.status->rebalances.fetch_add(1);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    st.log->info("assigned {} partition(s): {}", parts->cnt, describe(to_vector(parts)));
    on_assign(st, parts, cooperative);
  } else {
    st.log->info("revoking {} partition(s): {}", parts->cnt, describe(to_vector(parts)));
    on_revoke(st, parts, cooperative);
  }
  // Transactions must carry the group generation current after this rebalance.
  if (st.opts.transactions)
    st.opts.transactions->update_group_metadata(rk);
  st.status->assigned_partitions = static_cast<int>(st.assigned.size());
  // Ready once in the group and caught up; an instance the group gives
  // nothing to (more replicas than partitions) is ready, just idle.
  st.status->joined = true;
  st.status->ready = !st.status->fatal;
}

/// librdkafka's statistics (every statistics.interval.ms, from poll on this
/// thread): the partitions' watermarks and committed offsets, for lag.
int stats_cb(rd_kafka_t*, char* json, size_t len, void* opaque) {
  auto& st = *static_cast<consumer_state*>(opaque);
  namespace od = simdjson::ondemand;
  static thread_local od::parser parser;
  simdjson::padded_string padded(json, len);
  od::document doc;
  od::object topics, brokers;
  if (parser.iterate(padded).get(doc))
    return 0;
  // Brokers first (on-demand parsing reads the document front to back):
  // how many real brokers (configured or learned; not the logical
  // coordinator entry) this client is connected to right now.
  if (!doc["brokers"].get_object().get(brokers)) {
    int up = 0;
    for (auto b : brokers) {
      od::object broker;
      std::string_view state, source;
      if (b.value().get_object().get(broker))
        continue;
      for (auto f : broker) {
        std::string_view k;
        if (f.unescaped_key().get(k))
          continue;
        if (k == "state" && f.value().get_string().get(state))
          state = {};
        else if (k == "source" && f.value().get_string().get(source))
          source = {};
      }
      up += (source == "learned" || source == "configured") && state == "UP";
    }
    // From unknown (-1) too: an outage that begins before the first
    // statistics must still be said.
    if (up == 0 && st.brokers_up != 0)
      st.log->warn("broker unreachable: no connection to any broker; waiting for it "
                   "(nothing is committed meanwhile)");
    else if (up > 0 && st.brokers_up == 0)
      st.log->info("broker reachable again ({} up)", up);
    st.brokers_up = up;
    st.status->brokers_up = up;
  }
  doc.rewind();
  if (doc["topics"].get_object().get(topics))
    return 0;
  for (auto t : topics) {
    std::string_view name;
    od::object topic, parts;
    if (t.unescaped_key().get(name) || t.value().get_object().get(topic)
        || topic["partitions"].get_object().get(parts))
      continue;
    std::string topic_name(name);
    for (auto p : parts) {
      od::object part;
      int64_t id = -1, hi = -1, lo = -1, committed = -1;
      if (p.value().get_object().get(part))
        continue;
      for (auto f : part) {
        std::string_view k;
        if (f.unescaped_key().get(k))
          continue;
        int64_t* slot = k == "partition"          ? &id
                        : k == "hi_offset"        ? &hi
                        : k == "lo_offset"        ? &lo
                        : k == "committed_offset" ? &committed
                                                  : nullptr;
        if (slot && f.value().get_int64().get(*slot))
          *slot = -1;
      }
      topic_partition tp{topic_name, static_cast<int32_t>(id)};
      if (id < 0 || !st.assigned.count(tp))
        continue; // -1 is librdkafka's internal UA partition
      st.status->update(tp, [&](auto& v) {
        v.high_watermark = hi;
        v.low_watermark = lo;
        if (committed >= 0)
          v.committed = committed;
      });
    }
  }
  return 0; // we do not keep the JSON buffer
}

void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
               rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto& st = *static_cast<consumer_state*>(opaque);
  if (st.opts.on_commit_latency)
    st.opts.on_commit_latency(std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - st.commit_started)
                                .count());
  if (err) {
    commit_failed(st, err, offsets);
    return;
  }
  st.status->commits.fetch_add(1);
  for (int i = 0; offsets && i < offsets->cnt; ++i) {
    auto& e = offsets->elems[i];
    // An asynchronous commit may complete after its partition was given
    // up: its metrics must not come back.
    if (!e.err && e.offset >= 0 && st.assigned.count({e.topic, e.partition}))
      st.status->update({e.topic, e.partition}, [&](auto& v) { v.committed = e.offset; });
  }
}

/// `skip` is set for a record with nothing to decide (a Debezium tombstone).
work_ptr to_work(consumer_state& st, const rd_kafka_message_t* m, bool& skip) {
  auto w = std::make_shared<work_item>();
  w->entered_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  w->from_kafka = true;
  if (st.opts.transactions)
    w->epoch = st.opts.transactions->epoch();
  w->origin.topic = rd_kafka_topic_name(m->rkt);
  w->origin.partition = m->partition;
  w->origin.offset = m->offset;
  rd_kafka_timestamp_type_t tstype;
  w->origin.timestamp = rd_kafka_message_timestamp(m, &tstype);
  if (m->key)
    w->key.emplace(static_cast<const char*>(m->key), m->key_len);
  if (m->payload)
    w->value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); ++i)
      w->headers.emplace_back(name, val ? std::string(static_cast<const char*>(val), size)
                                        : std::string());
  }
  record_context ctx;
  if (w->key)
    ctx.key = *w->key;
  ctx.default_index = st.opts.default_index.empty() ? std::string_view(w->origin.topic)
                                                    : std::string_view(st.opts.default_index);
  ctx.record_timestamp = w->origin.timestamp;
  ctx.max_bytes = st.opts.max_record_bytes;
  std::optional<std::string_view> value; // null stays null: a tombstone
  if (m->payload)
    value = w->value;
  auto d = st.decoder->decode(w->origin.topic, value, ctx);
  skip = d.skip;
  auto& r = d.result;
  w->m = std::move(r.value);
  w->invalid = std::move(r.invalid);
  w->parsed = r.parsed;
  w->has_id = r.has_id;
  w->json_text = r.json_text;
  return w;
}

/// Takes one record into the pipeline; false if the consumer must stop.
bool take(consumer_pointer self, const rd_kafka_message_t* m) {
  auto& st = self->state;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      return true;
    // Consumer errors are informational: librdkafka recovers by itself,
    // except from fatal ones.
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(st.rk.get(), buf, sizeof(buf));
      st.log->critical("fatal consumer error: {}", buf);
      st.status->fatal = true;
      return false;
    }
    st.log->warn("consumer: {}", rd_kafka_message_errstr(m));
    return true;
  }
  bool skip = false;
  auto w = to_work(st, m, skip);
  const topic_partition tp{w->origin.topic, w->origin.partition};
  st.tracker->dispatched(tp, w->origin.offset, w->origin.timestamp);
  if (st.opts.transactions)
    st.opts.transactions->published->dispatched(tp, w->origin.offset, w->origin.timestamp);
  if (skip) {
    // Nothing to decide or publish: done at once, committed in turn.
    st.tracker->finished(tp, w->origin.offset);
    if (st.opts.transactions)
      st.opts.transactions->published->finished(tp, w->origin.offset);
    st.status->tombstones_skipped.fetch_add(1, std::memory_order_relaxed);
  } else {
    st.feed->submit(std::move(w));
  }
  if (st.status->records.fetch_add(1, std::memory_order_relaxed) == 0)
    st.status->first_record_ms = steady_ms();
  return true;
}

/// Subscribes to the configured topics (or the regex); false on failure.
bool subscribe(consumer_state& st) {
  partition_list_ptr subs{rd_kafka_topic_partition_list_new(
    static_cast<int>(st.opts.topics.size()))};
  for (auto& t : st.opts.topics)
    rd_kafka_topic_partition_list_add(subs.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto e = rd_kafka_subscribe(st.rk.get(), subs.get())) {
    st.log->critical("subscribe failed: {}", rd_kafka_err2str(e));
    return false;
  }
  return true;
}

/// Leaves the group and joins again. The cure for partitions the group
/// left without an owner: with the cooperative protocol the leader holds a
/// moving partition back until its old owner revokes it and rejoins; if
/// that owner is a static member that was killed and came back within the
/// session timeout, the broker hands it its stored assignment without a
/// rebalance, nobody rejoins, and the held-back partitions stay unowned
/// (KAFKA-9821's hazard; librdkafka has no cure up to 2.12). Leaving makes
/// the group rebalance and assign everything.
void rejoin(consumer_state& st) {
  st.log->warn("forcing a rejoin of the group: partitions of the subscribed topics have "
               "no owner");
  st.status->forced_rejoins.fetch_add(1);
  if (auto e = rd_kafka_unsubscribe(st.rk.get()))
    st.log->error("unsubscribe failed: {}", rd_kafka_err2str(e));
  if (!subscribe(st))
    st.status->fatal = true;
}

/// One bounded slice of consumption, then back to the mailbox so that drain
/// and exit messages get through.
///
/// Flow control: a partition with max.inflight.records unfinished records
/// is not read until it drains below that. Its records wait in librdkafka's
/// per-partition queue, whose prefetch stops at queued.max.messages.kbytes,
/// so the partition is paused without rd_kafka_pause_partitions(): that
/// call throws the prefetched records away (librdkafka #5343) and its
/// resume refetches only when the broker thread next wakes, about half a
/// second later, which starved the pipeline.
void poll_once(consumer_pointer self) {
  auto& st = self->state;
  st.status->last_poll_ms = steady_ms();
  if (st.status->rejoin_requested.exchange(false))
    rejoin(st);
  if (auto* txn = st.opts.transactions.get()) {
    if (txn->rewind_requested() || st.rewind_pending) {
      // Nothing is read until the rewind is done; it waits for a
      // transaction still in flight (the broker may be away), serving the
      // group's events meanwhile.
      std::unique_lock<std::timed_mutex> lock{txn->commit_lock(), std::defer_lock};
      if (!lock.try_lock_for(std::chrono::milliseconds(50))) {
        message_ptr m{rd_kafka_consumer_poll(st.rk.get(), 10)};
        if (m)
          take(self, m.get());
        return;
      }
      const char* why = txn->rewind_requested() ? "transaction aborted"
                                                : "revocation before everything was committed";
      st.rewind_pending = false;
      rewind(st, lock, why);
      if (st.status->fatal)
        return;
    }
    // A generation can change without a rebalance callback here (another
    // member joins and this one keeps its partitions): the next
    // transaction must carry the current one.
    auto now = std::chrono::steady_clock::now();
    if (now >= st.next_metadata) {
      txn->update_group_metadata(st.rk.get());
      st.next_metadata = now + std::chrono::milliseconds(200);
    }
  }
  // What arrives from now on wakes the idle wait below.
  st.wakeup->clear();
  // The consumer queue serves rebalances, errors and statistics (and the
  // records of partitions whose queue could not be split off).
  int taken = 0;
  for (int n = 0; n < 500; ++n) {
    message_ptr m{rd_kafka_consumer_poll(st.rk.get(), 0)};
    if (!m)
      break;
    ++taken;
    if (!take(self, m.get()))
      return;
  }
  constexpr size_t slice = 500;
  rd_kafka_message_t* batch[slice];
  for (auto& [tp, q] : st.queues) {
    auto p = st.tracker->progress(tp);
    size_t in_flight = p ? p->in_flight : 0;
    if (in_flight >= st.opts.max_inflight)
      continue;
    size_t room = std::min(slice, st.opts.max_inflight - in_flight);
    auto n = rd_kafka_consume_batch_queue(q.get(), 0, batch, room);
    for (ssize_t i = 0; i < n; ++i) {
      message_ptr m{batch[i]};
      ++taken;
      if (!take(self, m.get())) {
        for (ssize_t j = i + 1; j < n; ++j)
          rd_kafka_message_destroy(batch[j]);
        return;
      }
    }
  }
  st.feed->flush();
  auto now = std::chrono::steady_clock::now();
  if (now >= st.next_commit) {
    commit(st, {}, false);
    st.next_commit = now + st.opts.commit_interval;
  }
  if (taken == 0) {
    // Nothing to read (or no room): wait until a record or an event
    // arrives on any queue, at most 10 ms (commits, rejoins and room
    // freed by finished work are looked at on that pace). Waiting on the
    // consumer queue alone made a record that reached an idle partition
    // queue wait out the whole 10 ms.
    st.wakeup->wait(std::chrono::milliseconds(10));
  }
}

bool drain_and_close(consumer_pointer self) {
  auto& st = self->state;
  st.feed->flush();
  std::vector<topic_partition> tps(st.assigned.begin(), st.assigned.end());
  // One deadline for the drain and the revoke that closing triggers, so
  // the whole shutdown stays within shutdown.timeout.
  auto deadline = std::chrono::steady_clock::now() + st.opts.drain_timeout;
  st.closing_deadline = deadline;
  bool drained = wait_drained(st, tps, deadline);
  commit(st, {}, true);
  st.closing = true;
  // Whatever is still open now stays uncommitted: the publisher stops
  // waiting for the broker, and the next owner decides it again.
  if (st.opts.transactions)
    st.opts.transactions->stop();
  // Leaves the group; the revoke callback commits again (a no-op) first.
  rd_kafka_consumer_close(st.rk.get());
  st.status->ready = false;
  return drained;
}

caf::behavior consumer_behavior(consumer_pointer self, consumer_options opts,
                                pipeline_handles engine,
                                std::shared_ptr<offset_tracker> tracker,
                                std::shared_ptr<consumer_status> status) {
  install_diagnostics(self, "consumer");
  auto& st = self->state;
  st.opts = std::move(opts);
  st.engine = std::move(engine);
  st.feed = std::make_unique<submitter>(st.engine);
  st.tracker = std::move(tracker);
  st.status = std::move(status);
  st.decoder = std::make_unique<record_decoder>(st.opts.formats, st.opts.debezium);
  const bool several_topics = st.opts.topics.size() > 1
                              || (st.opts.topics.size() == 1 && st.opts.topics[0].rfind('^', 0) == 0);
  auto props = consumer_settings(st.opts.props, several_topics);
  std::string err;
  auto conf = make_conf(props, err);
  if (!conf) {
    st.log->critical("consumer config: {}", err);
    st.status->fatal = true;
    self->quit();
    return {};
  }
  rd_kafka_conf_set_opaque(conf.get(), &st);
  rd_kafka_conf_set_rebalance_cb(conf.get(), rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), commit_cb);
  // kafka.statistics.interval.ms, when given, replaces the default.
  if (auto i = props.find("statistics.interval.ms"); i != props.end())
    st.opts.stats_interval = std::chrono::milliseconds(std::atoll(i->second.c_str()));
  if (st.opts.stats_interval.count() > 0) {
    // Only with a consumer of the statistics (ClickHouse's warning: unread
    // statistics pile up in the queue).
    std::string interval = std::to_string(st.opts.stats_interval.count());
    rd_kafka_conf_set(conf.get(), "statistics.interval.ms", interval.c_str(), nullptr, 0);
    rd_kafka_conf_set_stats_cb(conf.get(), stats_cb);
  }
  char errstr[512];
  st.rk.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof(errstr)));
  if (!st.rk) {
    st.log->critical("cannot create consumer: {}", errstr);
    st.status->fatal = true;
    self->quit();
    return {};
  }
  conf.release();
  rd_kafka_poll_set_consumer(st.rk.get());
  st.consumer_queue.reset(rd_kafka_queue_get_consumer(st.rk.get()));
  st.wakeup->watch(st.consumer_queue.get());
  if (st.opts.transactions
      && !st.opts.transactions->wait_initialized(std::chrono::seconds(90))) {
    st.log->critical("the transactional producer did not initialize");
    st.status->fatal = true;
    self->quit();
    return {};
  }
  if (!subscribe(st)) {
    st.status->fatal = true;
    self->quit();
    return {};
  }
  st.next_commit = std::chrono::steady_clock::now() + st.opts.commit_interval;
  self->send(self, tick_atom_v);
  return {
    [=](tick_atom) {
      if (self->state.status->fatal) {
        self->quit();
        return;
      }
      poll_once(self);
      self->send(self, tick_atom_v);
    },
    [=](drain_atom) -> bool {
      bool ok = drain_and_close(self);
      self->quit();
      return ok;
    },
  };
}

} // namespace

caf::actor spawn_consumer(caf::actor_system& sys, consumer_options opts,
                          pipeline_handles engine,
                          std::shared_ptr<offset_tracker> tracker,
                          std::shared_ptr<consumer_status> status) {
  return sys.spawn<caf::detached>(consumer_behavior, std::move(opts), std::move(engine),
                                  std::move(tracker), std::move(status));
}

caf::actor spawn_offset_sink(caf::actor_system& sys,
                             std::shared_ptr<offset_tracker> tracker,
                             std::shared_ptr<decision_counters> decisions,
                             std::function<void(const effect&)> on_done) {
  return sys.spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](const effect_batch& batch) {
        for (auto& e : *batch) {
          if (!e.replayed) {
            decisions->count(static_cast<size_t>(e.verdict.kind),
                             static_cast<size_t>(e.work->m.vtype));
            if (on_done)
              on_done(e);
          }
          if (e.work->from_kafka)
            tracker->finished({e.work->origin.topic, e.work->origin.partition},
                              e.work->origin.offset);
        }
      },
    };
  });
}

} // namespace wcoord::kafka

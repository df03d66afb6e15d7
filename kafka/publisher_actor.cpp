#include "kafka/publisher_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <thread>

#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"
#include "engine/answers.hpp"
#include "engine/changelog_record.hpp"
#include "kafka/producer.hpp"
#include "kafka/topics.hpp"
#include "kafka/transaction_context.hpp"
#include "support/logging.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<wcoord::kafka::delivery>)

namespace wcoord::kafka {

namespace {

struct pending_effect {
  uint64_t seq;
  effect e;
  int outstanding = 0;
};

struct publisher_state {
  publisher_options opts;
  store_actor store;
  std::shared_ptr<output_counters> counters;
  std::unique_ptr<producer> out;
  /// Effects in arrival order; the head leaves when its records are delivered.
  std::deque<pending_effect> fifo;
  uint64_t next_seq = 0;
  /// Offsets committed by the last transaction (exactly once).
  std::map<topic_partition, int64_t> committed;
  /// Effects of older processing epochs were rewound: dropped on sight.
  uint64_t min_epoch = 0;
  /// Exactly once: the FIFO size at which to commit before the interval
  /// (commit_after_effects more than the last commit left waiting), and
  /// whether that early commit is on its way.
  size_t early_commit_at = 0;
  bool early_commit_sent = false;
  std::shared_ptr<spdlog::logger> log = module_logger("kafka");
  static inline const char* name = "wcoord.kafka.publisher";
};

using publisher_pointer = caf::stateful_actor<publisher_state>*;

[[noreturn]] void fail_stop(publisher_state& st, const std::string& what) {
  // An output that cannot be delivered means the decision cannot be made
  // durable. Stop before acknowledging anything else; the restart replays
  // from the last committed offset.
  st.log->critical("cannot publish: {}; stopping", what);
  st.log->flush();
  std::_Exit(71);
}

/// Trace context travels with every output. A value far past the W3C
/// sizes (traceparent 55 bytes, tracestate 512) is not trace context and
/// could make the record too large: it stays behind.
bool is_trace_header(const std::pair<std::string, std::string>& h) {
  return (h.first == "traceparent" || h.first == "tracestate") && h.second.size() <= 4096;
}

std::vector<std::pair<std::string, std::string>>
changelog_headers(const work_item& w) {
  std::vector<std::pair<std::string, std::string>> h{
    {"wcoord.source.topic", w.origin.topic},
    {"wcoord.source.partition", std::to_string(w.origin.partition)},
    {"wcoord.source.offset", std::to_string(w.origin.offset)},
  };
  for (auto& kv : w.headers)
    if (is_trace_header(kv))
      h.push_back(kv);
  return h;
}

/// `truncated` lists what was cut ("key", "headers"); the caller adds
/// "mutation" when the original is cut.
std::vector<std::pair<std::string, std::string>>
deadletter_headers(const work_item& w, const decision& d, std::string& truncated) {
  // Original headers first (traceparent among them), as many as fit in
  // their bound, then Kafka Connect's dead-letter convention, then ours.
  auto h = w.headers;
  if (bound_headers(h, dead_letter_limits::headers_bytes) > 0)
    truncated += truncated.empty() ? "headers" : ",headers";
  h.emplace_back("__connect.errors.topic", w.origin.topic);
  h.emplace_back("__connect.errors.partition", std::to_string(w.origin.partition));
  h.emplace_back("__connect.errors.offset", std::to_string(w.origin.offset));
  h.emplace_back("__connect.errors.exception.class.name",
                 d.error ? d.error->type : "unknown");
  h.emplace_back("__connect.errors.exception.message",
                 d.error ? dead_letter_reason(d.error->reason) : "");
  if (d.kind != outcome::invalid) {
    h.emplace_back("wcoord.conflict.current_version", std::to_string(d.current_version));
    h.emplace_back("wcoord.conflict.provided_version",
                   w.m.version ? std::to_string(*w.m.version) : "");
    h.emplace_back("wcoord.conflict.version_type", to_string(w.m.vtype));
    // The document's last pair when decided (-2 and 0, Elasticsearch's
    // "unassigned", when it does not exist), and the compare-and-set pair
    // the write required, if any.
    h.emplace_back("wcoord.conflict.current_seq_no", std::to_string(d.current_seq_no));
    h.emplace_back("wcoord.conflict.current_primary_term",
                   std::to_string(d.current_primary_term));
    h.emplace_back("wcoord.conflict.provided_seq_no",
                   w.m.if_seq_no ? std::to_string(*w.m.if_seq_no) : "");
    h.emplace_back("wcoord.conflict.provided_primary_term",
                   w.m.if_seq_no ? std::to_string(w.m.if_primary_term) : "");
  }
  return h;
}

void release_ready(publisher_pointer self) {
  auto& st = self->state;
  std::vector<effect> ready;
  while (!st.fifo.empty() && st.fifo.front().outstanding == 0) {
    ready.push_back(std::move(st.fifo.front().e));
    st.fifo.pop_front();
  }
  if (ready.size() == 1)
    self->send(st.store, std::move(ready.front()));
  else if (!ready.empty())
    self->send(st.store, std::move(ready));
}

/// The record an effect publishes, if any. `value` and `key` own the bytes
/// `r` points to, when the work item does not.
bool render_output(publisher_state& st, const effect& e, std::string& value, std::string& key,
                   outgoing_record& r) {
  const auto& w = *e.work;
  const auto& d = e.verdict;
  r = outgoing_record{};
  if (w.key)
    r.key = *w.key;
  else if (!w.m.id.empty())
    r.key = w.m.id;
  if (e.replayed)
    return false;
  if (d.kind == outcome::applied) {
    value = render_changelog(w.m, d);
    r.topic = st.opts.changelog_topic;
    r.partition = w.origin.partition; // co-partitioned with the input
    key = changelog_key(w.m.index, w.m.id);
    r.key = key;
    r.value = value;
    r.headers = changelog_headers(w);
    return true;
  }
  if (d.kind == outcome::conflict || d.kind == outcome::invalid
      || (d.kind == outcome::stale && st.opts.on_stale == "report")) {
    answer_subject s{w.m.op, w.m.index, w.m.id, w.has_id, w.parsed};
    // Whatever the record, its dead letter must fit in one output record
    // (output_message_bytes: the producer's message.max.bytes and the
    // output topics' max.message.bytes), or the partition would stop here
    // at every restart. Key and headers are bounded first; the value gets
    // the rest, its original cut if need be (render_dead_letter).
    std::string truncated;
    if (r.key && r.key->size() > dead_letter_limits::key_bytes) {
      r.key = r.key->substr(0, dead_letter_limits::key_bytes);
      truncated = "key";
    }
    r.headers = deadletter_headers(w, d, truncated);
    // Room for the record and batch framing, and for wcoord.truncated.
    constexpr size_t framing = 4096;
    size_t used = framing + (r.key ? r.key->size() : 0);
    for (auto& [k, v] : r.headers)
      used += k.size() + v.size() + dead_letter_limits::header_framing_bytes;
    const size_t limit = st.opts.deadletter_max_bytes > 0
                           ? st.opts.deadletter_max_bytes
                           : output_message_bytes(st.opts.max_record_bytes);
    auto dl = render_dead_letter(s, d, w.origin, w.value, limit > used ? limit - used : 0,
                                 w.json_text);
    value = std::move(dl.text);
    if (dl.mutation_truncated)
      truncated = truncated.empty() ? "mutation" : "mutation," + truncated;
    if (!truncated.empty())
      r.headers.emplace_back("wcoord.truncated", truncated);
    r.id = 1; // the low bit marks dead letters in delivery reports
    r.topic = st.opts.deadletter_topic;
    r.value = value;
    return true;
  }
  return false;
}

/// How a transactional call ended.
enum class txn_outcome { done, abort, stopped };

/// Runs one transactional call until it succeeds or fails for good.
/// Retriable errors (the broker away, a timeout) are retried for as long as
/// it takes: an outage is waited out, not a reason to stop. An error that
/// requires an abort (a new group generation, an output that failed) is the
/// caller's to handle. A fatal one (fenced by a newer instance with our
/// transactional.id) ends the process: that instance owns our work now.
template <class Call>
txn_outcome run_txn_call(publisher_state& st, const char* what, Call call) {
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 1;; ++attempt) {
    error_ptr err{call()};
    if (!err)
      return txn_outcome::done;
    std::string text = rd_kafka_error_string(err.get());
    if (rd_kafka_error_is_fatal(err.get()))
      fail_stop(st, std::string(what) + ": " + text);
    if (rd_kafka_error_txn_requires_abort(err.get())) {
      st.log->warn("{}: {}; aborting the transaction", what, text);
      return txn_outcome::abort;
    }
    if (!rd_kafka_error_is_retriable(err.get()))
      fail_stop(st, std::string(what) + ": " + text);
    if (st.opts.transactions->stopping())
      return txn_outcome::stopped;
    if (attempt == 1 || attempt % 10 == 0)
      st.log->warn("{}: {}; broker unreachable or slow, retrying (attempt {})", what, text,
                   attempt);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

/// Aborts the open transaction and asks the consumer to rewind: every
/// effect not committed is dropped here, and the consumer decides the
/// records again from the committed offsets in a new epoch.
void abort_and_rewind(publisher_pointer self) {
  auto& st = self->state;
  auto& txn = *st.opts.transactions;
  auto outcome = run_txn_call(st, "abort transaction", [&] {
    return rd_kafka_abort_transaction(st.out->handle(), 10000);
  });
  if (outcome == txn_outcome::abort)
    fail_stop(st, "abort transaction failed");
  st.counters->transactions_aborted.fetch_add(1, std::memory_order_relaxed);
  st.fifo.clear();
  st.committed.clear(); // the consumer asks the broker again
  st.min_epoch = txn.epoch() + 1;
  txn.request_rewind();
}

/// One exactly-once cycle. A transaction holds the outputs of exactly the
/// records below the offsets it commits: every record whose effect has
/// arrived, up to the first one still being decided. Effects above that
/// gap wait for a later transaction, so a restart from the committed
/// offsets never meets a record whose outputs were already committed.
void commit_transaction(publisher_pointer self) {
  auto& st = self->state;
  auto& txn = *st.opts.transactions;
  // Held for the whole cycle: partitions are not handed over (nor the
  // epoch moved) while a transaction with their offsets is in flight.
  std::unique_lock<std::timed_mutex> lock{txn.commit_lock()};
  if (txn.rewind_requested())
    return; // the consumer has not rewound yet: nothing here is valid
  st.min_epoch = std::max(st.min_epoch, txn.epoch());
  auto progress = txn.published->all();
  std::vector<effect> ready;
  std::deque<pending_effect> waiting;
  for (auto& p : st.fifo) {
    const auto& w = *p.e.work;
    if (w.epoch < st.min_epoch)
      continue; // rewound
    auto i = progress.find({w.origin.topic, w.origin.partition});
    if (!w.from_kafka || (i != progress.end() && w.origin.offset < i->second.committable))
      ready.push_back(std::move(p.e));
    else if (i != progress.end())
      waiting.push_back(std::move(p));
    // else: its partition was given up; the next owner decides it again
  }
  st.fifo = std::move(waiting);
  for (auto i = st.committed.begin(); i != st.committed.end();)
    i = progress.count(i->first) ? std::next(i) : st.committed.erase(i);
  partition_list_ptr offsets{rd_kafka_topic_partition_list_new(8)};
  std::map<topic_partition, int64_t> moved;
  for (auto& [tp, p] : progress) {
    auto last = st.committed.find(tp);
    if (p.committable >= 0 && (last == st.committed.end() || p.committable > last->second)) {
      rd_kafka_topic_partition_list_add(offsets.get(), tp.topic.c_str(), tp.partition)
        ->offset = p.committable;
      moved[tp] = p.committable;
    }
  }
  if (ready.empty() && offsets->cnt == 0)
    return;
  auto outcome = run_txn_call(st, "begin transaction", [&] {
    return rd_kafka_begin_transaction(st.out->handle());
  });
  std::string value, key;
  outgoing_record r;
  for (auto i = ready.begin(); outcome == txn_outcome::done && i != ready.end(); ++i)
    if (render_output(st, *i, value, key, r))
      if (auto err = st.out->send(r); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // A record that can never be sent (e.g. too large) would fail every
        // retry the same way.
        fail_stop(st, r.topic + ": " + rd_kafka_err2str(err));
      }
  if (outcome == txn_outcome::done && offsets->cnt > 0) {
    auto md = txn.group_metadata();
    if (!md)
      fail_stop(st, "no consumer group metadata for the transaction");
    outcome = run_txn_call(st, "send offsets to transaction", [&] {
      return rd_kafka_send_offsets_to_transaction(st.out->handle(), offsets.get(), md.get(),
                                                  10000);
    });
  }
  if (outcome == txn_outcome::done)
    outcome = run_txn_call(st, "commit transaction", [&] {
      return rd_kafka_commit_transaction(st.out->handle(), 10000);
    });
  if (outcome == txn_outcome::abort) {
    abort_and_rewind(self);
    return;
  }
  if (outcome == txn_outcome::stopped) {
    // Shutting down while the broker does not answer: try once to abort,
    // so no reader waits on this transaction; the next incarnation of our
    // transactional.id aborts it otherwise.
    error_ptr{rd_kafka_abort_transaction(st.out->handle(), 2000)};
    return;
  }
  for (auto& [tp, offset] : moved)
    st.committed[tp] = offset;
  st.counters->transactions_committed.fetch_add(1, std::memory_order_relaxed);
  if (!ready.empty())
    self->send(st.store, std::move(ready));
}

/// Exactly once: the next early commit comes when commit_after_effects
/// more effects wait than the last commit left. Those it left wait behind a
/// record still being decided (or belong to partitions given up, dropped at
/// the next commit): counting them against the threshold would make every
/// new effect a commit of nothing.
///
/// The count is over all partitions, not per partition: a partition pauses
/// at max.inflight.records unfinished records, and the FIFO grows by
/// commit_after_effects = max.inflight.records / 2 no later than any single
/// partition's share of it does, so a commit comes before any window fills
/// with records that only wait for it. With many partitions this commits
/// more often than strictly needed (every max.inflight.records / 2
/// effects), which costs a transaction round trip each, never a stall. The
/// one case left to the interval: a partition whose own effects, waiting
/// behind a slow record, hold more than half its window when nothing else
/// arrives.
void rearm_early_commit(publisher_state& st) {
  st.early_commit_at = st.fifo.size() + st.opts.commit_after_effects;
}

void publish(publisher_pointer self, effect&& e) {
  auto& st = self->state;
  const auto& w = *e.work;
  pending_effect p{st.next_seq++, std::move(e), 0};
  const auto& d = p.e.verdict;
  if (p.e.replayed) {
    st.counters->replays_skipped.fetch_add(1, std::memory_order_relaxed);
  } else if (d.kind == outcome::stale && st.opts.on_stale != "report") {
    auto lvl = st.opts.on_stale == "log" ? spdlog::level::info : spdlog::level::debug;
    st.log->log(lvl, "stale {} [{}][{}] at {}/{}@{}: {}", to_string(w.m.op), w.m.index,
                w.m.id, w.origin.topic, w.origin.partition, w.origin.offset,
                d.error ? d.error->reason : "");
  }
  if (st.opts.transactions) {
    // Exactly once: produced in the transaction that commits its offset.
    if (w.epoch < std::max(st.min_epoch, st.opts.transactions->epoch()))
      return; // decided before a rewind: decided again from the committed offset
    if (w.from_kafka)
      st.opts.transactions->published->finished({w.origin.topic, w.origin.partition},
                                                 w.origin.offset);
    st.fifo.push_back(std::move(p));
    if (st.opts.commit_after_effects > 0 && !st.early_commit_sent
        && st.fifo.size() >= st.early_commit_at) {
      st.early_commit_sent = true; // after the effects already in the mailbox
      self->send(self, commit_atom_v, true);
    }
    return;
  }
  std::string value, key;
  outgoing_record r;
  if (render_output(st, p.e, value, key, r)) {
    r.id |= p.seq << 1;
    p.outstanding = 1;
  }
  if (p.outstanding > 0) {
    if (auto err = st.out->send(r); err != RD_KAFKA_RESP_ERR_NO_ERROR)
      fail_stop(st, r.topic + ": " + rd_kafka_err2str(err));
  }
  st.fifo.push_back(std::move(p));
  release_ready(self);
}

void delivered(publisher_pointer self, const delivery& d) {
  auto& st = self->state;
  const bool dlq = (d.id & 1) != 0; // the low bit tells dead letters apart
  if (st.opts.transactions) {
    // Acknowledged by the transaction commit, which fails (and stops the
    // process) if any of its records failed; only counted here.
    if (!d.error)
      (dlq ? st.counters->dlq_produced : st.counters->changelog_produced)
        .fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t seq = d.id >> 1;
  if (st.fifo.empty() || seq < st.fifo.front().seq)
    return;
  auto& p = st.fifo[seq - st.fifo.front().seq];
  if (d.error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (dlq)
      st.counters->dlq_failures.fetch_add(1, std::memory_order_relaxed);
    fail_stop(st, std::string(dlq ? st.opts.deadletter_topic : st.opts.changelog_topic)
                    + ": " + rd_kafka_err2str(d.error));
  }
  (dlq ? st.counters->dlq_produced : st.counters->changelog_produced)
    .fetch_add(1, std::memory_order_relaxed);
  if (!dlq)
    p.e.changelog_position.emplace(topic_partition{st.opts.changelog_topic, d.partition},
                                   d.offset);
  --p.outstanding;
}

caf::behavior publisher_behavior(publisher_pointer self,
                                 std::map<std::string, std::string> props,
                                 publisher_options opts, store_actor store,
                                 std::shared_ptr<output_counters> counters) {
  install_diagnostics(self, "publisher");
  auto& st = self->state;
  st.opts = std::move(opts);
  st.store = std::move(store);
  st.counters = std::move(counters);
  // The delivery handler runs on the producer's poll thread: it only sends.
  caf::actor me = caf::actor_cast<caf::actor>(self);
  st.out = std::make_unique<producer>(std::move(props), [me](std::vector<delivery>&& ds) {
    caf::anon_send(me, std::move(ds));
  });
  if (st.opts.transactions) {
    // Fences an earlier incarnation with the same transactional.id and
    // completes or aborts whatever it left open.
    auto outcome = run_txn_call(st, "init transactions", [&] {
      return rd_kafka_init_transactions(st.out->handle(), 30000);
    });
    if (outcome != txn_outcome::done)
      fail_stop(st, "init transactions did not complete");
    st.opts.transactions->initialized();
    rearm_early_commit(st);
    self->delayed_send(self, st.opts.commit_interval, commit_atom_v);
  }
  return {
    [=](effect& e) { publish(self, std::move(e)); },
    [=](std::vector<effect>& es) { // records the parser refused, batched
      for (auto& e : es)
        publish(self, std::move(e));
    },
    [=](commit_atom) {
      commit_transaction(self);
      rearm_early_commit(self->state);
      self->delayed_send(self, self->state.opts.commit_interval, commit_atom_v);
    },
    [=](commit_atom, bool /* early: enough effects wait */) {
      auto& st = self->state;
      st.early_commit_sent = false;
      // An interval commit may have run since this was sent: commit only if
      // as many effects still wait. The interval timer keeps its own pace.
      if (st.fifo.size() < st.early_commit_at)
        return;
      commit_transaction(self);
      rearm_early_commit(st);
    },
    [=](const std::vector<delivery>& ds) {
      for (auto& d : ds)
        delivered(self, d);
      // With transactions the commit releases effects, never a delivery.
      if (!self->state.opts.transactions)
        release_ready(self);
    },
  };
}

} // namespace

caf::actor spawn_publisher(caf::actor_system& sys,
                           std::map<std::string, std::string> producer_props,
                           publisher_options opts, store_actor store,
                           std::shared_ptr<output_counters> counters) {
  return sys.spawn<caf::detached>(publisher_behavior, std::move(producer_props),
                                  std::move(opts), std::move(store),
                                  std::move(counters));
}

} // namespace wcoord::kafka

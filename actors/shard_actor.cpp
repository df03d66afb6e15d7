#include "actors/shard_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <list>
#include <unordered_map>

#include "actors/document_actor.hpp"
#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"

namespace wcoord {

namespace {

using clock_type = caf::actor_clock;

struct entry {
  caf::actor actor;
  /// Work sent to the actor, and how much of it is durable. Only an actor
  /// with forwarded == done may stop: its state then equals the store's, so
  /// a successor loading from the store continues exactly where it ended.
  uint64_t forwarded = 0;
  uint64_t done = 0;
  clock_type::time_point last_used;
  /// Input partition of the last work (Kafka), for draining on revocation.
  topic_partition source;
  std::list<const document_key*>::iterator lru;
};

struct shard_state {
  shard_config cfg;
  store_actor store;
  caf::actor next;
  std::unordered_map<document_key, entry, document_key_hash> entries;
  /// Most recently used first; points at the keys inside `entries`.
  std::list<const document_key*> lru;
  /// Work and durable effects of older epochs belong to a rewound past.
  uint64_t epoch = 0;
  static inline const char* name = "wcoord.shard";

  shard_state() = default;
  shard_state(const shard_state&) = delete;
  shard_state& operator=(const shard_state&) = delete;

  /// Runs when the shard stops, whatever the reason (CAF 0.17 destroys a
  /// stateful actor's state in on_exit). Document actors are not linked to
  /// their shard (document_actor.cpp: a link costs O(live actors) per exit),
  /// so the shard stops them itself: one message each, and no link
  /// bookkeeping when they go. 300k live actors stop in about a second, 1M
  /// in a few (bench/engine_bench --churn, teardown column).
  ~shard_state() {
    for (auto& kv : entries)
      caf::anon_send_exit(kv.second.actor, caf::exit_reason::user_shutdown);
    if (cfg.counters)
      cfg.counters->active_document_actors.fetch_sub(
        static_cast<int64_t>(entries.size()), std::memory_order_relaxed);
  }
};

using shard_pointer = shard_actor::stateful_pointer<shard_state>;

void passivate(shard_pointer self,
               std::unordered_map<document_key, entry,
                                  document_key_hash>::iterator i) {
  auto& st = self->state;
  // After the work already in its mailbox; a normal exit, which its exit
  // functor (document_actor.cpp) does not report.
  caf::anon_send(i->second.actor, passivate_atom_v);
  st.lru.erase(i->second.lru);
  st.entries.erase(i);
  st.cfg.counters->active_document_actors.fetch_sub(1, std::memory_order_relaxed);
  st.cfg.counters->passivations.fetch_add(1, std::memory_order_relaxed);
}

/// Stops least recently used idle actors until the cap holds. Busy actors
/// (work not yet durable) cannot stop; at most `max_skips` of them are
/// stepped over, so routing stays O(1) even when the tail is busy. They are
/// reconsidered when their work becomes durable.
void enforce_limit(shard_pointer self) {
  auto& st = self->state;
  constexpr int max_skips = 32;
  int skipped = 0;
  auto it = st.lru.end();
  while (st.entries.size() > st.cfg.entity_limit && it != st.lru.begin()
         && skipped < max_skips) {
    --it;
    auto e = st.entries.find(**it);
    if (e->second.forwarded == e->second.done) {
      auto prev = it;
      ++prev;
      passivate(self, e);
      it = prev;
    } else {
      ++skipped;
    }
  }
}

void route(shard_pointer self, const work_ptr& w) {
  auto& st = self->state;
  document_key key{w->m.index, w->m.id};
  auto i = st.entries.find(key);
  if (i == st.entries.end()) {
    document_actor_config cfg{key, st.store, st.next, st.cfg.gc_deletes_ms,
                              st.cfg.index, st.cfg.sequenced};
    i = st.entries.emplace(std::move(key), entry{}).first;
    i->second.actor = spawn_document_actor(self, std::move(cfg));
    st.lru.push_front(&i->first);
    i->second.lru = st.lru.begin();
    st.cfg.counters->active_document_actors.fetch_add(1, std::memory_order_relaxed);
    st.cfg.counters->activations.fetch_add(1, std::memory_order_relaxed);
  } else {
    st.lru.splice(st.lru.begin(), st.lru, i->second.lru);
  }
  auto& e = i->second;
  if (w->from_kafka)
    e.source = {w->origin.topic, w->origin.partition};
  ++e.forwarded;
  e.last_used = self->clock().now();
  // Typed actors may only send() to typed ones: document actors get an
  // anonymous message (they never answer).
  caf::anon_send(e.actor, w);
}

void passivate_idle(shard_pointer self) {
  auto& st = self->state;
  auto cutoff = self->clock().now() - st.cfg.idle_timeout;
  auto it = st.lru.end();
  while (it != st.lru.begin()) {
    --it;
    auto e = st.entries.find(**it);
    if (e->second.last_used > cutoff)
      break; // everything further front was used more recently
    if (e->second.forwarded == e->second.done) {
      auto prev = it;
      ++prev;
      passivate(self, e);
      it = prev;
    }
  }
}

shard_actor::behavior_type shard_behavior(shard_pointer self, shard_config cfg,
                             store_actor store, caf::actor next) {
  install_diagnostics(self, "shard");
  self->state.cfg = std::move(cfg);
  self->state.store = std::move(store);
  self->state.next = std::move(next);
  auto tick = std::max(std::chrono::duration_cast<caf::timespan>(
                         self->state.cfg.idle_timeout / 4),
                       caf::timespan{std::chrono::milliseconds(10)});
  self->delayed_send(self, tick, tick_atom_v);
  return {
    [=](const work_batch& batch) {
      for (auto& w : batch)
        if (w->epoch >= self->state.epoch)
          route(self, w);
      enforce_limit(self);
    },
    [=](const effect_batch& done) {
      auto& st = self->state;
      for (auto& e : *done) {
        if (e.shard != st.cfg.index || e.work->epoch < st.epoch)
          continue;
        auto i = st.entries.find(document_key{e.work->m.index, e.work->m.id});
        if (i != st.entries.end())
          ++i->second.done;
      }
      enforce_limit(self);
    },
    [=](drain_atom, const std::vector<topic_partition>& revoked) {
      // The partitions moved to another owner, whose writes this process
      // will not see: forget all their documents, so a later re-assignment
      // loads them afresh from the restored store. Busy ones too: their
      // last effects may be durable already while the store's notice of it
      // is still on its way here (drained is judged by the consumer); kept,
      // such an actor would decide with its old state once the partition
      // comes back. Their effects reach the store before any successor's
      // load (store_actor.cpp).
      auto& st = self->state;
      for (auto i = st.entries.begin(); i != st.entries.end();) {
        auto next = std::next(i);
        if (std::find(revoked.begin(), revoked.end(), i->second.source) != revoked.end())
          passivate(self, i);
        i = next;
      }
    },
    [=](reset_atom, uint64_t epoch) {
      // The open transaction was aborted: every live actor may hold a
      // decision that is gone. Each stops after the work already in its
      // mailbox (whose effects the publisher drops); successors load the
      // store, which holds exactly the committed effects.
      auto& st = self->state;
      st.epoch = epoch;
      while (!st.entries.empty())
        passivate(self, st.entries.begin());
    },
    [=](tick_atom) {
      passivate_idle(self);
      self->delayed_send(self, tick, tick_atom_v);
    },
  };
}

} // namespace

shard_actor spawn_shard_actor(caf::actor_system& sys, shard_config cfg,
                              store_actor store, caf::actor next) {
  return sys.spawn(shard_behavior, std::move(cfg), std::move(store),
                   std::move(next));
}

} // namespace wcoord

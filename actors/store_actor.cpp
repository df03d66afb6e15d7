#include "actors/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdlib>
#include <string_view>
#include <unordered_set>

#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

struct store_state {
  std::shared_ptr<document_store> store;
  caf::actor sink;
  std::vector<caf::actor> shards;
  std::vector<effect> pending;
  /// Documents written by `pending`, as hashes: a load of one of them
  /// writes the batch first. A false positive only costs an early write.
  std::unordered_set<size_t> pending_keys;
  /// Highest offsets stored so far: effects finish out of order, so a later
  /// batch may only hold lower ones and must not move the mark back.
  std::map<topic_partition, int64_t> high_marks;
  bool commit_scheduled = false;
  store_actor_options opts;
  std::shared_ptr<spdlog::logger> log = module_logger("store");
  static inline const char* name = "wcoord.store";
};

size_t pending_key(std::string_view index, std::string_view id) {
  auto h = std::hash<std::string_view>{}(id);
  return h ^ (std::hash<std::string_view>{}(index) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

void add_pending(store_state& st, effect&& e) {
  if (e.write)
    st.pending_keys.insert(pending_key(e.work->m.index, e.work->m.id));
  st.pending.push_back(std::move(e));
}

[[noreturn]] void fail_stop(store_state& st, const std::exception& e) {
  // The document actors' memory is now ahead of the store. Acknowledging
  // anything else would be a lie, and a restart replays from the last durable
  // batch, so stop at once.
  st.log->critical("store failure, stopping: {}", e.what());
  st.log->flush();
  std::_Exit(70);
}

void commit(store_actor::stateful_pointer<store_state> self) {
  auto& st = self->state;
  st.commit_scheduled = false;
  if (st.pending.empty())
    return;
  write_batch batch;
  batch.documents.reserve(st.pending.size());
  for (auto& e : st.pending) {
    if (e.work->parsed)
      batch.event_time = std::max(batch.event_time, e.work->m.timestamp);
    if (e.write) {
      const auto& m = e.work->m;
      // `wcoord apply` numbers per index: the next number is stored with
      // the documents, so a later run over this store continues it.
      if (!e.work->from_kafka && e.verdict.kind == outcome::applied) {
        auto& next = batch.next_seq_no[m.index];
        next = std::max(next, e.verdict.seq_no + 1);
      }
      // Nothing downstream reads the written state again: move it.
      batch.documents.emplace_back(document_key{m.index, m.id}, std::move(*e.write));
    }
    if (e.work->from_kafka) {
      topic_partition tp{e.work->origin.topic, e.work->origin.partition};
      auto& off = batch.offsets[tp];
      off = std::max(off, e.work->origin.offset);
    }
    if (e.changelog_position) {
      auto& off = batch.offsets[e.changelog_position->first];
      off = std::max(off, e.changelog_position->second);
    }
  }
  for (auto i = batch.offsets.begin(); i != batch.offsets.end();) {
    auto& mark = st.high_marks[i->first];
    if (i->second <= mark && mark != 0) {
      i = batch.offsets.erase(i);
    } else {
      mark = i->second;
      ++i;
    }
  }
  try {
    if (!batch.empty())
      st.store->commit(batch);
  } catch (const std::exception& e) {
    fail_stop(st, e);
  }
  auto done = std::make_shared<const std::vector<effect>>(std::move(st.pending));
  st.pending = {};
  st.pending_keys.clear();
  st.pending.reserve(st.opts.max_batch);
  // Typed actors may only send() to typed ones; the sink and the shards
  // are dynamically typed, so they get anonymous messages. Shards first:
  // whoever learns from the sink that work is durable (a drain, a caller
  // feeding more) then finds the notice already queued at the shards, ahead
  // of anything it sends them, so their actors are idle and may stop.
  for (auto& shard : st.shards)
    caf::anon_send(shard, done);
  if (st.sink)
    caf::anon_send(st.sink, done);
}

void schedule_commit(store_actor::stateful_pointer<store_state> self) {
  auto& st = self->state;
  if (st.pending.size() >= st.opts.max_batch) {
    commit(self);
  } else if (!st.commit_scheduled) {
    // Queued behind every effect already in the mailbox: by the time it
    // runs, they are all in `pending` and share one write.
    st.commit_scheduled = true;
    self->send(self, commit_atom_v);
  }
}

store_actor::behavior_type store_behavior(store_actor::stateful_pointer<store_state> self,
                             std::shared_ptr<document_store> store,
                             caf::actor sink, store_actor_options opts) {
  install_diagnostics(self, "store actor");
  self->state.store = std::move(store);
  self->state.sink = std::move(sink);
  self->state.opts = opts;
  self->state.pending.reserve(opts.max_batch);
  return {
    [=](const std::vector<caf::actor>& shards) { self->state.shards = shards; },
    [=](load_atom, const document_key& key) -> std::optional<stored_document> {
      // A successor of a document actor that stopped while its last effects
      // were on their way here (a rewind, a revoked partition) must see
      // them: the commit scheduled for them may still be queued behind this
      // request.
      if (self->state.pending_keys.count(pending_key(key.index, key.id)))
        commit(self);
      try {
        return self->state.store->load(key);
      } catch (const std::exception& e) {
        fail_stop(self->state, e);
      }
    },
    [=](effect& e) {
      add_pending(self->state, std::move(e));
      schedule_commit(self);
    },
    [=](std::vector<effect>& batch) {
      for (auto& e : batch)
        add_pending(self->state, std::move(e));
      schedule_commit(self);
    },

    [=](commit_atom) { commit(self); },
    [=](const store_task_ptr& task) {
      commit(self); // effects sent before the task land first
      try {
        task->run(*self->state.store);
        task->done.set_value();
      } catch (const store_error& e) {
        fail_stop(self->state, e);
      } catch (...) {
        task->done.set_exception(std::current_exception());
      }
    },
  };
}

} // namespace

std::future<void> run_on_store(const store_actor& store,
                               std::function<void(document_store&)> fn) {
  auto task = std::make_shared<store_task>();
  task->run = std::move(fn);
  auto done = task->done.get_future();
  caf::anon_send(store, std::move(task));
  return done;
}

store_actor spawn_store_actor(caf::actor_system& sys,
                             std::shared_ptr<document_store> store,
                             caf::actor sink, store_actor_options opts) {
  return sys.spawn<caf::detached>(store_behavior, std::move(store),
                                  std::move(sink), opts);
}

} // namespace wcoord

#include "actors/document_actor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_storage.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <list>

#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

/// Every live document has one of these, so its size is the per-document
/// cost of the design: CAF allocates the actor and this state in one block
/// (caf::actor_storage), and jemalloc rounds the block up to a size class.
/// The key and the store only serve the load, which keeps them in its own
/// request and handler.
struct document_state_holder {
  /// Where effects go next, and how this document decides (the rest of
  /// document_actor_config).
  caf::actor next;
  int64_t gc_deletes_ms = 0;
  int32_t shard = 0;
  bool sequenced = false;
  /// Sequenced mode: applied writes whose pair the sequencer has not
  /// announced yet, and work held back until it has (a compare-and-set
  /// write needs the current pair, and later work stays behind it). A list:
  /// libstdc++'s empty std::deque allocates 576 bytes, and nearly every
  /// document actor's `held` stays empty its whole life.
  uint32_t unnumbered = 0;
  std::list<work_ptr> held;
  stored_document current;
  static inline const char* name = "wcoord.document";
};

// 1280 is a jemalloc size class; the next one, 1536, costs 25 MB per
// 100k live documents.
static_assert(sizeof(caf::actor_storage<caf::stateful_actor<document_state_holder>>) <= 1280,
              "a document actor outgrew its allocation size class");

using document_pointer = caf::stateful_actor<document_state_holder>*;

/// Replay detection: the store remembers the last record decided for this
/// document, and a partition is consumed in order, so anything at or below
/// that offset was decided (and its outputs published) before a restart.
bool already_decided(const stored_document& doc, const work_item& w) {
  return w.from_kafka && doc.last_offset >= w.origin.offset
         && doc.last_source.partition == w.origin.partition
         && doc.last_source.topic == w.origin.topic;
}

void decide_one(document_pointer self, const work_ptr& w) {
  auto& st = self->state;
  effect e;
  e.work = w;
  e.shard = st.shard;
  if (already_decided(st.current, *w)) {
    e.replayed = true;
    self->send(st.next, std::move(e));
    return;
  }
  document_state next; // decide() fills every field but the pair when it applies
  e.verdict = decide(st.current.doc, w->m, st.gc_deletes_ms, next);
  const bool applied = e.verdict.kind == outcome::applied;
  if (applied) {
    const int64_t previous = st.current.doc.seq_no;
    if (st.sequenced) {
      // Numbered downstream; until then the state keeps the last known
      // pair, which only a compare-and-set write would read (it waits).
      e.seq_floor = previous + 1;
      next.seq_no = previous;
      next.primary_term = st.current.doc.primary_term;
      ++st.unnumbered;
    } else {
      assign_seq_no(e.verdict, next,
                    seq_no_for_offset(w->from_kafka ? w->origin.offset : 0, previous),
                    wcoord_primary_term);
    }
    st.current.doc = std::move(next);
  }
  if (w->from_kafka) {
    st.current.last_source = {w->origin.topic, w->origin.partition};
    st.current.last_offset = w->origin.offset;
  }
  // Kafka decisions always write: the replay marker must move even when the
  // document does not, or a replayed conflict could be decided differently.
  if (applied || w->from_kafka) {
    // A marker for a document that does not exist expires like a tombstone,
    // by the event time of the record it remembers.
    if (st.current.doc.state == document_state::kind::missing)
      st.current.doc.delete_timestamp = w->m.timestamp;
    e.write = st.current;
  }
  self->send(st.next, std::move(e));
}

caf::behavior document_behavior(document_pointer self,
                                document_actor_config cfg) {
  install_diagnostics(self, "document actor");
  auto& st = self->state;
  st.next = std::move(cfg.next);
  st.gc_deletes_ms = cfg.gc_deletes_ms;
  st.shard = cfg.shard;
  st.sequenced = cfg.sequenced;
  // `await` suspends the regular behavior until the state is loaded; work
  // arriving meanwhile waits in the mailbox, in order. No timeout: a timed
  // request registers a timer with CAF's clock thread for every activation
  // (bench/engine_bench: 15% of the in-memory throughput), and the load
  // cannot hang: the store actor answers, or stops the process on a storage
  // failure, or is gone, which answers the request with an error.
  self->request(cfg.store, caf::infinite, load_atom_v, cfg.key)
    .await(
      [=](const std::optional<stored_document>& loaded) {
        if (loaded)
          self->state.current = *loaded;
      },
      [=, key = std::move(cfg.key)](const caf::error& err) {
        module_logger("actors")->critical(
          "document [{}][{}] could not load its state: {}", key.index, key.id,
          self->system().render(err));
        self->quit(err);
      });
  return {
    [=](const work_ptr& w) {
      auto& st = self->state;
      if (!st.held.empty() || (st.unnumbered > 0 && w->m.if_seq_no))
        st.held.push_back(w);
      else
        decide_one(self, w);
    },
    [=](seq_atom, int64_t seq_no, int64_t primary_term) {
      // Announced in the order the writes were decided: after the last one
      // the state holds the pair of its latest write.
      auto& st = self->state;
      --st.unnumbered;
      st.current.doc.seq_no = seq_no;
      st.current.doc.primary_term = primary_term;
      while (!st.held.empty() && !(st.unnumbered > 0 && st.held.front()->m.if_seq_no)) {
        auto w = std::move(st.held.front());
        st.held.pop_front();
        decide_one(self, w);
      }
    },
    [=](passivate_atom) { self->quit(); },
  };
}

} // namespace

caf::actor spawn_document_actor(caf::local_actor* parent,
                                document_actor_config cfg) {
  // Not linked to the shard. CAF 0.17 keeps an actor's links in a singly
  // linked list of attachables, and every exit of a linked actor makes the
  // other side walk its list to remove the link: O(live actors) per
  // passivation on the shard (issue 8: 14k records/s fell to 650/s once the
  // entity limit was reached) and minutes of unlink_from at shutdown with
  // 300k actors. The shard stops its live actors itself when it stops
  // (shard_actor.cpp), and a document actor that fails takes its shard
  // down as a link did: an attachable on the document actor's own list,
  // O(1) on both sides.
  auto self = parent->spawn(document_behavior, std::move(cfg));
  self->attach_functor([shard = parent->address()](const caf::error& reason) {
    // Passivation (normal), the shard's own stop (user_shutdown) and a
    // dropped handle (unreachable) are not failures.
    if (!reason || reason == caf::exit_reason::user_shutdown
        || reason == caf::exit_reason::unreachable)
      return;
    // As anon_send_exit, which takes only an exit_reason, not the error.
    if (auto hdl = caf::actor_cast<caf::strong_actor_ptr>(shard))
      hdl->enqueue(nullptr, caf::make_message_id(),
                   caf::make_message(caf::exit_msg{shard, reason}), nullptr);
  });
  return self;
}

} // namespace wcoord

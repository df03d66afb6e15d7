#include "actors/sequencer_actor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <cstdlib>
#include <deque>
#include <optional>
#include <vector>

#include "actors/diagnostics.hpp"
#include "actors/messages.hpp"
#include "engine/sequence_numbers.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

struct held_effect {
  effect e;
  /// The document actor that decided it (nullptr for records it never
  /// saw): it waits for the pair of each write it applied.
  caf::strong_actor_ptr decider;
};

struct sequencer_state {
  store_actor store;
  std::map<std::string, int64_t> next_seq_no;
  /// Effects waiting for an earlier ticket; slot i holds ticket base + i.
  std::deque<std::optional<held_effect>> waiting;
  uint64_t base = 0;
  static inline const char* name = "wcoord.sequencer";
};

using sequencer_pointer = caf::stateful_actor<sequencer_state>*;

void release(sequencer_pointer self) {
  auto& st = self->state;
  std::vector<effect> ready;
  while (!st.waiting.empty() && st.waiting.front()) {
    held_effect h = std::move(*st.waiting.front());
    st.waiting.pop_front();
    ++st.base;
    effect& e = h.e;
    if (e.verdict.kind == outcome::applied && e.write) {
      auto& next = st.next_seq_no[e.work->m.index];
      const int64_t seq_no = std::max(next, e.seq_floor);
      next = seq_no + 1;
      assign_seq_no(e.verdict, e.write->doc, seq_no, wcoord_primary_term);
      if (h.decider)
        caf::anon_send(caf::actor_cast<caf::actor>(h.decider), seq_atom_v, seq_no,
                       wcoord_primary_term);
    }
    ready.push_back(std::move(e));
  }
  if (ready.size() == 1)
    caf::anon_send(st.store, std::move(ready.front()));
  else if (!ready.empty())
    caf::anon_send(st.store, std::move(ready));
}

void hold(sequencer_pointer self, effect& e, caf::strong_actor_ptr decider) {
  auto& st = self->state;
  const uint64_t ticket = e.work->ticket;
  if (ticket < st.base) {
    // Tickets not dense: a caller's bug. Numbering past it would hand out
    // wrong pairs, and waiting would hang: stop loudly.
    module_logger("actors")->critical("sequencer: ticket {} came twice; stopping", ticket);
    module_logger("actors")->flush();
    std::_Exit(70);
  }
  const auto slot = static_cast<size_t>(ticket - st.base);
  if (st.waiting.size() <= slot)
    st.waiting.resize(slot + 1);
  st.waiting[slot] = held_effect{std::move(e), std::move(decider)};
}

caf::behavior sequencer_behavior(sequencer_pointer self, store_actor store,
                                 std::map<std::string, int64_t> next_seq_no) {
  install_diagnostics(self, "sequencer");
  self->state.store = std::move(store);
  self->state.next_seq_no = std::move(next_seq_no);
  return {
    [=](effect& e) {
      hold(self, e, self->current_sender());
      release(self);
    },
    [=](std::vector<effect>& es) { // records the parser refused, batched: no decider
      for (auto& e : es)
        hold(self, e, nullptr);
      release(self);
    },
  };
}

} // namespace

caf::actor spawn_sequencer(caf::actor_system& sys, store_actor store,
                           std::map<std::string, int64_t> next_seq_no) {
  return sys.spawn(sequencer_behavior, std::move(store), std::move(next_seq_no));
}

} // namespace wcoord

#include "app/answer_writer.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "engine/answers.hpp"

namespace wcoord {

namespace {

struct writer_state {
  std::FILE* out = nullptr;
  /// Answers waiting for their turn, at slot ticket % window.
  std::vector<std::optional<std::string>> ring;
  uint64_t next_ticket = 0;
  std::shared_ptr<credit_gate> gate;
  std::shared_ptr<answer_counts> counts;
  static inline const char* name = "wcoord.apply.writer";
};

std::string render(const effect& e) {
  const auto& w = *e.work;
  answer_subject s{w.m.op, w.m.index, w.m.id, w.has_id, w.parsed};
  return render_bulk_item(s, e.verdict);
}

} // namespace

caf::actor spawn_answer_writer(caf::actor_system& sys, std::FILE* out,
                               size_t window, std::shared_ptr<credit_gate> gate,
                               std::shared_ptr<answer_counts> counts) {
  auto behavior = [=](caf::stateful_actor<writer_state>* self) -> caf::behavior {
    auto& st = self->state;
    st.out = out;
    st.ring.resize(window);
    st.gate = gate;
    st.counts = counts;
    return {
      [=](const effect_batch& batch) {
        auto& st = self->state;
        const size_t n = st.ring.size();
        for (auto& e : *batch) {
          st.ring[e.work->ticket % n] = render(e);
          st.counts->by_outcome[static_cast<size_t>(e.verdict.kind)]
            .fetch_add(1, std::memory_order_relaxed);
        }
        size_t released = 0;
        for (;;) {
          auto& slot = st.ring[st.next_ticket % n];
          if (!slot)
            break;
          slot->push_back('\n');
          std::fwrite(slot->data(), 1, slot->size(), st.out);
          slot.reset();
          ++st.next_ticket;
          ++released;
        }
        if (released > 0) {
          // An answer is an acknowledgement: it leaves only after its effect
          // is durable, and it leaves now, not at the next buffer fill.
          std::fflush(st.out);
          st.counts->written.fetch_add(released, std::memory_order_relaxed);
          st.gate->release(released);
        }
      },
    };
  };
  return sys.spawn<caf::detached>(behavior);
}

} // namespace wcoord

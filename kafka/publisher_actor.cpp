#include "kafka/publisher_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <cstdlib>
#include <deque>

#include "actors/messages.hpp"
#include "actors/diagnostics.hpp"
#include "engine/answers.hpp"
#include "kafka/producer.hpp"
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
  caf::actor store;
  std::shared_ptr<output_counters> counters;
  std::unique_ptr<producer> out;
  /// Effects in arrival order; the head leaves when its records are delivered.
  std::deque<pending_effect> fifo;
  uint64_t next_seq = 0;
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

std::vector<std::pair<std::string, std::string>>
changelog_headers(const work_item& w) {
  std::vector<std::pair<std::string, std::string>> h{
    {"wcoord.source.topic", w.origin.topic},
    {"wcoord.source.partition", std::to_string(w.origin.partition)},
    {"wcoord.source.offset", std::to_string(w.origin.offset)},
  };
  for (auto& [k, v] : w.headers)
    if (k == "traceparent" || k == "tracestate")
      h.emplace_back(k, v);
  return h;
}

std::vector<std::pair<std::string, std::string>>
deadletter_headers(const work_item& w, const decision& d) {
  // Original headers first (traceparent among them), then Kafka Connect's
  // dead-letter convention, then ours.
  auto h = w.headers;
  h.emplace_back("__connect.errors.topic", w.origin.topic);
  h.emplace_back("__connect.errors.partition", std::to_string(w.origin.partition));
  h.emplace_back("__connect.errors.offset", std::to_string(w.origin.offset));
  h.emplace_back("__connect.errors.exception.class.name",
                 d.error ? d.error->type : "unknown");
  h.emplace_back("__connect.errors.exception.message",
                 d.error ? d.error->reason : "");
  if (d.kind != outcome::invalid) {
    h.emplace_back("wcoord.conflict.current_version", std::to_string(d.current_version));
    h.emplace_back("wcoord.conflict.provided_version",
                   w.m.version ? std::to_string(*w.m.version) : "");
    h.emplace_back("wcoord.conflict.version_type", to_string(w.m.vtype));
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

void publish(publisher_pointer self, effect&& e) {
  auto& st = self->state;
  const auto& w = *e.work;
  pending_effect p{st.next_seq++, std::move(e), 0};
  const auto& d = p.e.verdict;
  std::string value;
  outgoing_record r;
  r.id = p.seq;
  if (w.key)
    r.key = *w.key;
  else if (!w.m.id.empty())
    r.key = w.m.id;
  if (p.e.replayed) {
    st.counters->replays_skipped.fetch_add(1, std::memory_order_relaxed);
  } else if (d.kind == outcome::applied) {
    value = render_changelog(w.m, d);
    r.topic = st.opts.changelog_topic;
    r.partition = w.origin.partition; // co-partitioned with the input
    r.key = w.m.id;
    r.value = value;
    r.headers = changelog_headers(w);
    p.outstanding = 1;
  } else if (d.kind == outcome::conflict || d.kind == outcome::invalid
             || (d.kind == outcome::stale && st.opts.on_stale == "report")) {
    answer_subject s{w.m.op, w.m.index, w.m.id, w.has_id, w.parsed};
    // A record refused for its size cannot travel intact: keep its head
    // (as a string) so the dead letter still fits in a Kafka record.
    const bool cut = w.value.size() > st.opts.max_record_bytes;
    std::string_view original = w.value;
    if (cut)
      original = original.substr(0, std::min<size_t>(original.size(), 64 << 10));
    value = render_dead_letter(s, d, w.origin, original, w.parsed && !cut);
    r.topic = st.opts.deadletter_topic;
    r.value = value;
    r.headers = deadletter_headers(w, d);
    p.outstanding = 1;
  } else if (d.kind == outcome::stale) {
    auto lvl = st.opts.on_stale == "log" ? spdlog::level::info : spdlog::level::debug;
    st.log->log(lvl, "stale {} [{}][{}] at {}/{}@{}: {}", to_string(w.m.op), w.m.index,
                w.m.id, w.origin.topic, w.origin.partition, w.origin.offset,
                d.error ? d.error->reason : "");
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
  if (st.fifo.empty() || d.id < st.fifo.front().seq)
    return;
  auto& p = st.fifo[d.id - st.fifo.front().seq];
  const bool dlq = p.e.verdict.kind != outcome::applied;
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
                                 publisher_options opts, caf::actor store,
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
  return {
    [=](effect& e) { publish(self, std::move(e)); },
    [=](const std::vector<delivery>& ds) {
      for (auto& d : ds)
        delivered(self, d);
      release_ready(self);
    },
  };
}

} // namespace

caf::actor spawn_publisher(caf::actor_system& sys,
                           std::map<std::string, std::string> producer_props,
                           publisher_options opts, caf::actor store,
                           std::shared_ptr<output_counters> counters) {
  return sys.spawn<caf::detached>(publisher_behavior, std::move(producer_props),
                                  std::move(opts), std::move(store),
                                  std::move(counters));
}

} // namespace wcoord::kafka

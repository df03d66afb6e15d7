#include "actors/pipeline.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/sequencer_actor.hpp"
#include "actors/shard_actor.hpp"
#include "actors/store_actor.hpp"

namespace wcoord {

pipeline::pipeline(caf::actor_system& sys, std::shared_ptr<document_store> store,
                   caf::actor sink, pipeline_options opts,
                   const stage_factory& publisher)
  : counters_(std::make_shared<engine_counters>()) {
  store_actor_options sopts;
  sopts.max_batch = opts.store_batch;
  auto& h = handles_;
  h.store = spawn_store_actor(sys, std::move(store), std::move(sink), sopts);
  if (publisher)
    h.first_stage = publisher(h.store);
  else if (opts.sequence_by_index)
    h.first_stage = spawn_sequencer(sys, h.store, *opts.sequence_by_index);
  else
    h.first_stage = caf::actor_cast<caf::actor>(h.store);
  const size_t n = std::max<size_t>(1, opts.shards);
  for (size_t i = 0; i < n; ++i) {
    shard_config cfg;
    cfg.index = static_cast<int32_t>(i);
    cfg.gc_deletes_ms = opts.gc_deletes_ms;
    cfg.idle_timeout = opts.idle_timeout;
    // Each shard gets its share of the cap (at least one live actor).
    cfg.entity_limit = std::max<size_t>(1, opts.entity_limit / n);
    cfg.counters = counters_;
    cfg.sequenced = !publisher && opts.sequence_by_index.has_value();
    h.shards.push_back(spawn_shard_actor(sys, cfg, h.store, h.first_stage));
  }
  // The store announces durable effects to the shards.
  std::vector<caf::actor> shard_handles;
  for (auto& s : h.shards)
    shard_handles.push_back(caf::actor_cast<caf::actor>(s));
  caf::anon_send(h.store, shard_handles);
}

size_t pipeline_handles::shard_of(const mutation& m) const {
  return document_key_hash{}(document_key{m.index, m.id}) % shards.size();
}

void pipeline::stop() {
  auto& h = handles_;
  for (auto& s : h.shards)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  if (h.first_stage != caf::actor_cast<caf::actor>(h.store))
    caf::anon_send_exit(h.first_stage, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(h.store, caf::exit_reason::user_shutdown);
}

submitter::submitter(pipeline_handles p, size_t batch_size)
  : p_(std::move(p)), batch_size_(batch_size), pending_(p_.shards.size()) {
  // nop
}

submitter::~submitter() {
  flush();
}

void submitter::submit(work_ptr w) {
  if (w->invalid) {
    effect e;
    e.work = w;
    e.verdict = *w->invalid;
    invalid_.push_back(std::move(e));
    if (invalid_.size() >= batch_size_) {
      caf::anon_send(p_.first_stage, std::move(invalid_));
      invalid_ = {};
    }
    return;
  }
  auto i = p_.shard_of(w->m);
  pending_[i].push_back(std::move(w));
  if (pending_[i].size() >= batch_size_) {
    caf::anon_send(p_.shards[i], std::move(pending_[i]));
    pending_[i] = {};
    pending_[i].reserve(batch_size_);
  }
}

void submitter::flush() {
  if (!invalid_.empty()) {
    caf::anon_send(p_.first_stage, std::move(invalid_));
    invalid_ = {};
  }
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_[i].empty()) {
      caf::anon_send(p_.shards[i], std::move(pending_[i]));
      pending_[i] = {};
    }
  }
}

} // namespace wcoord

#include "actors/pipeline.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/shard_actor.hpp"
#include "actors/store_actor.hpp"

namespace wcoord {

pipeline::pipeline(caf::actor_system& sys, std::shared_ptr<document_store> store,
                   caf::actor sink, pipeline_options opts,
                   const stage_factory& publisher)
  : counters_(std::make_shared<engine_counters>()) {
  store_actor_options sopts;
  sopts.max_batch = opts.store_batch;
  store_ = spawn_store_actor(sys, std::move(store), std::move(sink), sopts);
  first_stage_ = publisher ? publisher(store_) : caf::actor_cast<caf::actor>(store_);
  const size_t n = std::max<size_t>(1, opts.shards);
  for (size_t i = 0; i < n; ++i) {
    shard_config cfg;
    cfg.index = static_cast<int32_t>(i);
    cfg.gc_deletes_ms = opts.gc_deletes_ms;
    cfg.idle_timeout = opts.idle_timeout;
    // Each shard gets its share of the cap (at least one live actor).
    cfg.entity_limit = std::max<size_t>(1, opts.entity_limit / n);
    cfg.counters = counters_;
    shards_.push_back(spawn_shard_actor(sys, cfg, store_, first_stage_));
  }
  // The store announces durable effects to the shards.
  std::vector<caf::actor> shard_handles;
  for (auto& s : shards_)
    shard_handles.push_back(caf::actor_cast<caf::actor>(s));
  caf::anon_send(store_, shard_handles);
}

size_t pipeline::shard_of(const mutation& m) const {
  return document_key_hash{}(document_key{m.index, m.id}) % shards_.size();
}

void pipeline::stop() {
  for (auto& s : shards_)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  if (first_stage_ != caf::actor_cast<caf::actor>(store_))
    caf::anon_send_exit(first_stage_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store_, caf::exit_reason::user_shutdown);
}

submitter::submitter(const pipeline& p, size_t batch_size)
  : p_(p), batch_size_(batch_size), pending_(p.shards().size()) {
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
    caf::anon_send(p_.first_stage(), std::move(e));
    return;
  }
  auto i = p_.shard_of(w->m);
  pending_[i].push_back(std::move(w));
  if (pending_[i].size() >= batch_size_) {
    caf::anon_send(p_.shards()[i], std::move(pending_[i]));
    pending_[i] = {};
    pending_[i].reserve(batch_size_);
  }
}

void submitter::flush() {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_[i].empty()) {
      caf::anon_send(p_.shards()[i], std::move(pending_[i]));
      pending_[i] = {};
    }
  }
}

} // namespace wcoord

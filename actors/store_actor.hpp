#pragma once
// The only owner of the document store. Runs detached (RocksDB writes and
// reads block) and turns single effects into group commits: every effect that
// arrived while a write was in progress lands in the next write batch.

#include <caf/fwd.hpp>

#include <memory>

#include "store/document_store.hpp"

namespace wcoord {

struct store_actor_options {
  /// Commit early once this many effects are waiting.
  size_t max_batch = 4096;
};

/// Spawns the store actor (detached). It answers
///   (load_atom, document_key) -> std::optional<stored_document>
/// accepts `effect`s, and once they are durable sends one `effect_batch` to
/// `sink` and to every shard registered with a `std::vector<caf::actor>`.
/// A storage failure is fatal: the process stops without acknowledging
/// anything past the last durable batch.
caf::actor spawn_store_actor(caf::actor_system& sys,
                             std::shared_ptr<document_store> store,
                             caf::actor sink, store_actor_options opts = {});

} // namespace wcoord

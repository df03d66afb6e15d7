#pragma once
// The only owner of the document store. Runs detached (RocksDB writes and
// reads block) and turns single effects into group commits: every effect that
// arrived while a write was in progress lands in the next write batch.

#include <caf/typed_actor.hpp>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "actors/messages.hpp"
#include "store/document_store.hpp"

namespace wcoord {

struct store_actor_options {
  /// Commit early once this many effects are waiting.
  size_t max_batch = 4096;
};

/// The store actor's interface. It answers loads, accepts effects (one or
/// several), and once they are durable sends one `effect_batch` to the sink
/// and to every shard registered with a `std::vector<caf::actor>`; store
/// tasks run on its thread in order with the effects before them.
using store_actor = caf::typed_actor<
  caf::replies_to<load_atom, document_key>::with<std::optional<stored_document>>,
  caf::reacts_to<effect>,
  caf::reacts_to<std::vector<effect>>,
  caf::reacts_to<store_task_ptr>,
  caf::reacts_to<std::vector<caf::actor>>,
  caf::reacts_to<commit_atom>>;

/// Spawns the store actor (detached). A storage failure is fatal: the
/// process stops without acknowledging anything past the last durable batch.
store_actor spawn_store_actor(caf::actor_system& sys,
                             std::shared_ptr<document_store> store,
                             caf::actor sink, store_actor_options opts = {});

/// Runs `fn` on the store actor's thread, after the effects sent before it.
/// The future becomes ready when it ran (holding what it threw); only
/// non-actor threads and detached actors may wait on it.
std::future<void> run_on_store(const store_actor& store,
                               std::function<void(document_store&)> fn);

} // namespace wcoord

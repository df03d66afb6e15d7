#pragma once
// Assembles the engine: the store actor, the shards and (in the service) a
// publisher stage, and gives non-actor threads a way to feed it.

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <memory>
#include <vector>

#include "actors/engine_counters.hpp"
#include "actors/messages.hpp"
#include "actors/shard_actor.hpp"
#include "actors/store_actor.hpp"
#include "store/document_store.hpp"

namespace wcoord {

struct pipeline_options {
  size_t shards = 2;
  caf::timespan idle_timeout = std::chrono::seconds(120);
  size_t entity_limit = 100000;
  int64_t gc_deletes_ms = 24 * 3600 * 1000LL;
  size_t store_batch = 4096;
  /// `wcoord apply`: a sequencer numbers applied writes per index in ticket
  /// order (actors/sequencer_actor.hpp), starting from these numbers;
  /// tickets must then be dense from 0. Not with a publisher stage.
  std::optional<std::map<std::string, int64_t>> sequence_by_index;
};

/// Builds the stage between document actors and the store. Gets the store
/// actor, returns the actor that receives every effect first.
using stage_factory = std::function<caf::actor(store_actor store)>;

/// What callers need to feed a pipeline and to address its actors: copies
/// of typed handles, so a holder (e.g. the Kafka consumer actor) never
/// points into the pipeline object, which may be gone first at shutdown.
struct pipeline_handles {
  std::vector<shard_actor> shards;
  /// Where effects enter the output path (publisher, else the store).
  caf::actor first_stage;
  store_actor store;

  /// Shard responsible for a document: a stable hash of (index, id).
  size_t shard_of(const mutation& m) const;
};

class pipeline {
public:
  /// `sink` receives every durable `effect_batch`. Without a `publisher`
  /// factory, effects go from the document actors straight to the store.
  pipeline(caf::actor_system& sys, std::shared_ptr<document_store> store,
           caf::actor sink, pipeline_options opts,
           const stage_factory& publisher = {});

  const pipeline_handles& handles() const { return handles_; }
  const std::vector<shard_actor>& shards() const { return handles_.shards; }
  const store_actor& store() const { return handles_.store; }
  std::shared_ptr<engine_counters> counters() const { return counters_; }

  /// Stops the shards (and with them every document actor) and the stages.
  void stop();

private:
  std::shared_ptr<engine_counters> counters_;
  pipeline_handles handles_;
};

/// Feeds a pipeline from one thread: valid work is grouped per shard into
/// batches (one message per batch, not per mutation); invalid records skip
/// the document actors and go straight to the output path as effects, in
/// batches of their own (a `std::vector<effect>` the first stage takes).
class submitter {
public:
  explicit submitter(pipeline_handles p, size_t batch_size = 256);
  explicit submitter(const pipeline& p, size_t batch_size = 256)
    : submitter(p.handles(), batch_size) {
    // nop
  }
  ~submitter();

  void submit(work_ptr w);
  /// Sends every partial batch.
  void flush();

private:
  pipeline_handles p_;
  size_t batch_size_;
  std::vector<work_batch> pending_;
  /// Effects of refused records, batched too: one message each woke an idle
  /// publisher thread every time (7% of the CPU under exactly once).
  std::vector<effect> invalid_;
};

} // namespace wcoord

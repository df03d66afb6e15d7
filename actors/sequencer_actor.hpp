#pragma once
// Numbers the applied writes of `wcoord apply` as one Elasticsearch shard
// numbers its operations: `_seq_no` dense per index from 0, in input order
// (engine/sequence_numbers.hpp has the Kafka rule, which needs no stage).
//
//   document actors ──effect──▶ sequencer ──effects in ticket order──▶ store
//          ▲                        │
//          └──── seq_atom (the pair of each applied write) ────┘
//
// Document actors decide in parallel and out of input order; the sequencer
// holds each effect until every earlier ticket has arrived, then gives the
// next number of its index to each applied one, tells its document actor
// (which needs the pair to decide a later compare-and-set write) and passes
// the effects on. Tickets must be dense from 0 (apply's line numbers).

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <map>
#include <string>

#include "actors/store_actor.hpp"

namespace wcoord {

/// Spawns the sequencer in front of `store`; `next_seq_no` holds each
/// index's next number as the store remembers it (document_store::
/// index_seq_nos), so a second run over one state directory continues.
caf::actor spawn_sequencer(caf::actor_system& sys, store_actor store,
                           std::map<std::string, int64_t> next_seq_no);

} // namespace wcoord

#pragma once
// Elasticsearch 7+ sequence numbers: every applied write gets a `_seq_no`
// and a `_primary_term`, and a write carrying `if_seq_no`/`if_primary_term`
// applies only while the document's last write has exactly that pair.
//
// Which numbers wcoord gives (README, "Sequence numbers"):
// * `wcoord run`: the write's source offset, or the document's previous
//   `_seq_no` + 1 when that is higher (a document written from two topics,
//   or from a topic that was re-created); primary term 1. A pure function
//   of the record and the document's state, so a replay after a crash and
//   the next owner of a partition give every write the pair it had.
// * `wcoord apply`: dense per index from 0 in input order, as one
//   Elasticsearch shard numbers its operations (actors/sequencer_actor.hpp).

#include <algorithm>
#include <cstdint>

namespace wcoord {

/// Elasticsearch's SequenceNumbers.UNASSIGNED_SEQ_NO and
/// UNASSIGNED_PRIMARY_TERM: "no pair" (a document never written, a request
/// without compare-and-set).
inline constexpr int64_t unassigned_seq_no = -2;
inline constexpr int64_t unassigned_primary_term = 0;

/// wcoord has no failovers that could reuse a sequence number, so its
/// primary term stays Elasticsearch's first one.
inline constexpr int64_t wcoord_primary_term = 1;

/// The `_seq_no` of a write decided from a Kafka record at `offset` on a
/// document whose last write had `previous` (unassigned_seq_no if none):
/// never below the offset, always above the previous one.
inline int64_t seq_no_for_offset(int64_t offset, int64_t previous) {
  return std::max(offset, previous + 1);
}

} // namespace wcoord

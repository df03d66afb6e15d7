#pragma once
// The vocabulary the actors speak. A mutation travels as an immutable
// `work_item` behind a shared pointer (CAF 0.17 messages must be copyable,
// and copying record bytes per hop would dominate the cost); its decision
// travels as an `effect` through the stages:
//
//   caller ──batch──▶ shard ──work──▶ document ──effect──▶ [publisher] ──▶ store
//                      ▲                                                   │
//                      └──────────── effect_batch (durable) ───────────────┴──▶ sink

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/answers.hpp"
#include "engine/mutation.hpp"
#include "engine/versioning.hpp"
#include "store/document_store.hpp"

namespace wcoord {

/// One input record on its way through the pipeline.
struct work_item {
  /// Caller's handle for the completion: the input line number in `apply`,
  /// a per-partition slot in the Kafka pipeline.
  uint64_t ticket = 0;
  mutation m;
  /// Set when the parser refused the record: no document actor sees it.
  std::optional<decision> invalid;
  bool parsed = true;
  bool has_id = true;
  /// `value` is one JSON text, as its parser found (parse_result::json_text).
  bool json_text = false;
  /// Kafka origin; `from_kafka` false in `apply`.
  bool from_kafka = false;
  record_origin origin;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  /// Steady-clock time (ns) the record entered the pipeline (latency metrics).
  int64_t entered_ns = 0;
  /// Processing epoch (exactly once): work of an older epoch was rewound and
  /// is dropped wherever it is met (kafka/transaction_context.hpp).
  uint64_t epoch = 0;
};

using work_ptr = std::shared_ptr<const work_item>;
using work_batch = std::vector<work_ptr>;

/// A decided mutation and what it changes.
struct effect {
  work_ptr work;
  decision verdict;
  /// The document record to store; empty when nothing changes.
  std::optional<stored_document> write;
  /// The record was decided before a crash and its effects are stored: it
  /// must be neither re-applied nor re-published, only counted as done.
  bool replayed = false;
  /// The lowest `_seq_no` an applied write may get when a sequencer numbers
  /// it (`wcoord apply`): one above the document's last known pair.
  int64_t seq_floor = 0;
  /// Index of the shard that routed it; -1 for records no shard saw.
  int32_t shard = -1;
  /// Where its changelog record landed (set by the publisher), so the store
  /// knows how far the changelog is already reflected locally.
  std::optional<std::pair<topic_partition, int64_t>> changelog_position;
};

/// Work run on the store actor's thread, in order with the effects before
/// it (restore from the changelog, checkpoint queries). The caller waits on
/// `done`; only non-actor threads and detached actors may wait.
struct store_task {
  std::function<void(document_store&)> run;
  std::promise<void> done;
};

using store_task_ptr = std::shared_ptr<store_task>;

using effect_batch = std::shared_ptr<const std::vector<effect>>;

} // namespace wcoord

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::work_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::work_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::effect)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<wcoord::effect>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::effect_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::store_task_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::document_key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wcoord::store_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<wcoord::topic_partition>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<wcoord::stored_document>)

// Atom texts are at most 10 characters, and equal texts are the same atom.
CAF_BEGIN_TYPE_ID_BLOCK(wcoord, caf::first_custom_type_id)
  CAF_ADD_ATOM(wcoord, wcoord, load_atom, "wc_load")
  CAF_ADD_ATOM(wcoord, wcoord, commit_atom, "wc_commit")
  CAF_ADD_ATOM(wcoord, wcoord, tick_atom, "wc_tick")
  CAF_ADD_ATOM(wcoord, wcoord, drain_atom, "wc_drain")
  CAF_ADD_ATOM(wcoord, wcoord, passivate_atom, "wc_passiv")
  CAF_ADD_ATOM(wcoord, wcoord, reset_atom, "wc_reset")
  CAF_ADD_ATOM(wcoord, wcoord, seq_atom, "wc_seq")
CAF_END_TYPE_ID_BLOCK(wcoord)

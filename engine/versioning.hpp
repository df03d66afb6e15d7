#pragma once
// Elasticsearch's optimistic concurrency rules (semantics.md) as pure
// functions: no I/O, no clocks, no allocation beyond the answer itself.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/mutation.hpp"
#include "engine/sequence_numbers.hpp"

namespace wcoord {

/// What the store knows about one (index, id).
struct document_state {
  enum class kind : uint8_t { missing, live, tombstone };
  kind state = kind::missing;
  int64_t version = 0;
  /// Event time of the delete that made the tombstone (epoch ms).
  int64_t delete_timestamp = 0;
  /// Raw JSON source of a live document.
  std::string source;
  /// The pair of the write that made this state (live or tombstone).
  int64_t seq_no = unassigned_seq_no;
  int64_t primary_term = unassigned_primary_term;

  bool operator==(const document_state& other) const;
};

enum class outcome : uint8_t { applied, stale, conflict, invalid };
enum class write_result : uint8_t { none, created, updated, deleted, not_found };

const char* to_string(outcome o);
const char* to_string(write_result r);

/// An Elasticsearch error body: `type` and `reason`.
struct error_info {
  std::string type;
  std::string reason;
};

/// The answer to one mutation.
struct decision {
  outcome kind = outcome::invalid;
  int status = 400;
  write_result result = write_result::none;
  /// The version after the write (applied only).
  int64_t version = 0;
  /// The version's pair (applied only): set by assign_seq_no once known.
  int64_t seq_no = unassigned_seq_no;
  int64_t primary_term = unassigned_primary_term;
  /// The document's version when decided, -1 if missing (conflict headers).
  int64_t current_version = -1;
  /// The pair of the document's last write when decided; unassigned if
  /// missing (conflict headers).
  int64_t current_seq_no = unassigned_seq_no;
  int64_t current_primary_term = unassigned_primary_term;
  std::optional<error_info> error;
};

/// The state a tombstone-aware reader sees at event time `now_ms`: a
/// tombstone older than `gc_deletes_ms` is gone (strict `>` expires it).
document_state::kind effective_kind(const document_state& doc, int64_t now_ms,
                                    int64_t gc_deletes_ms);

/// Decides a *valid* mutation against the current state. When the outcome is
/// applied, `next` receives the new state; otherwise it is left untouched.
decision decide(const document_state& current, const mutation& m,
                int64_t gc_deletes_ms, document_state& next);

/// Gives an applied decision and the state it wrote their `_seq_no` and
/// `_primary_term` (engine/sequence_numbers.hpp says which).
void assign_seq_no(decision& d, document_state& next, int64_t seq_no, int64_t primary_term);

/// A 400 answer with Elasticsearch's "Validation Failed" wrapping.
decision validation_failure(std::string type, const std::string& message);

/// Several validation errors in one answer, as Elasticsearch's
/// ActionRequestValidationException lists them: "Validation Failed: 1: a;2: b;".
decision validation_failures(std::string type, const std::vector<std::string>& messages);

/// A 400 answer whose reason is given verbatim (parse errors).
decision invalid_decision(std::string type, std::string reason);

} // namespace wcoord

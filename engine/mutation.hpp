#pragma once
// A mutation as wcoord understands it: the fields of contract.md §1 after
// parsing, owned (no views into the Kafka buffer) so it can travel between
// actors.

#include <cstdint>
#include <optional>
#include <string>

namespace wcoord {

enum class op_type { index, create, remove };

/// external_gt is an alias of external, so only three kinds remain.
enum class version_type { internal, external, external_gte };

struct mutation {
  op_type op = op_type::index;
  std::string index;
  std::string id;
  std::optional<int64_t> version;
  version_type vtype = version_type::internal;
  /// The `doc` object exactly as received (raw JSON bytes, not re-serialized).
  std::string source;
  /// Event time in epoch ms: the `timestamp` field, else the record's.
  int64_t timestamp = 0;
  /// Compare-and-set (Elasticsearch 7+): apply only while the document's
  /// last write has this `_seq_no` and `_primary_term`. Set only when the
  /// request asked for it (validated: then if_primary_term > 0).
  std::optional<int64_t> if_seq_no;
  int64_t if_primary_term = 0;
};

/// The action key of an answer: "index", "create" or "delete".
const char* to_string(op_type op);
/// "internal", "external" or "external_gte" (metrics label, DLQ header).
const char* to_string(version_type vt);

} // namespace wcoord

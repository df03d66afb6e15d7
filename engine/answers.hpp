#pragma once
// The JSON shapes of contract.md: bulk-style answers (`wcoord apply`),
// changelog values and dead-letter values. Pure formatting.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/mutation.hpp"
#include "engine/versioning.hpp"

namespace wcoord {

/// Where a mutation came from (a Kafka record, or a line of `apply` input).
struct record_origin {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;
};

/// What an answer needs to know about the mutation besides the decision.
struct answer_subject {
  op_type op = op_type::index;
  std::string_view index;
  std::string_view id;
  bool has_id = true;
  /// False for records that were not a JSON object: no _index/_id then.
  bool parsed = true;
};

/// `{"<op>":{"_index":…,"_id":…,…}}` as written by `wcoord apply`.
std::string render_bulk_item(const answer_subject& s, const decision& d,
                             std::string_view shard = "0");

/// Changelog value of an applied mutation.
std::string render_changelog(const mutation& m, const decision& d);

/// What keeps a dead letter inside one Kafka record whatever the input
/// (issue 8): escaping can make a value six times larger (an invalid UTF-8
/// byte or a control byte becomes a six-byte escape), and a record whose
/// dead letter cannot be produced would stop its partition at every restart.
namespace dead_letter_limits {
/// error.reason and the exception-message header: longer ones are cut, "..."
/// marks the cut.
inline constexpr size_t reason_bytes = 1024;
/// error.index (an invalid record may name any string as its index).
inline constexpr size_t index_bytes = 512;
/// An original that does not fit whole keeps at most this many of its
/// first bytes.
inline constexpr size_t kept_original_bytes = 64 << 10;
/// The record key (valid ids have at most 512 bytes) and the original
/// headers (bound_headers).
inline constexpr size_t key_bytes = 4096;
inline constexpr size_t headers_bytes = 32 << 10;
/// What one header costs on the wire besides its name and value (varint
/// lengths), generously: ten thousand tiny headers must count too.
inline constexpr size_t header_framing_bytes = 16;
/// The smallest value budget render_dead_letter always keeps to: room for
/// the envelope with its bounded fields and a cut original.
inline constexpr size_t min_value_bytes = 16 << 10;
} // namespace dead_letter_limits

/// A reason as a dead letter carries it: at most reason_bytes (plus "..."),
/// cut at a UTF-8 boundary.
std::string dead_letter_reason(std::string_view reason);

/// True when `text` is exactly one JSON value, fully validated (RFC 8259
/// grammar, UTF-8, escapes, nothing after it; nesting up to 512): what may
/// be embedded in another JSON document as is.
bool is_json_text(std::string_view text);

struct dead_letter_value {
  std::string text;
  /// The original did not fit whole: `text` holds a prefix of it.
  bool mutation_truncated = false;
};

/// Dead-letter value of at most max(`max_bytes`, min_value_bytes) bytes: the
/// 409/400 body, the origin, and the original value, embedded as JSON when
/// it is valid JSON (is_json_text) and fits, else as a JSON string. An
/// original that does not fit whole is cut: its first bytes (at most
/// kept_original_bytes, never inside a UTF-8 sequence or an escape) as a
/// string, after `"mutation_truncated":true,"mutation_bytes":<its size>`.
/// `known_json`: the caller's parser already read the original whole as
/// one JSON text within is_json_text's bounds, so it is not checked again.
dead_letter_value render_dead_letter(const answer_subject& s, const decision& d,
                                     const record_origin& origin,
                                     std::string_view original_value, size_t max_bytes,
                                     bool known_json = false);

/// Keeps `headers` in order while their names, values and framing
/// (header_framing_bytes each) together fit in `max_bytes`; a header that
/// does not fit is left out (a cut value would be a wrong one), later
/// smaller ones still get in. Returns how many were left out.
size_t bound_headers(std::vector<std::pair<std::string, std::string>>& headers,
                     size_t max_bytes);

} // namespace wcoord

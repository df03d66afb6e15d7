#pragma once
// The JSON shapes of contract.md: bulk-style answers (`wcoord apply`),
// changelog values and dead-letter values. Pure formatting.

#include <cstdint>
#include <string>
#include <string_view>

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

/// Dead-letter value: the 409/400 body, the origin, and the original value
/// (embedded as JSON when it parsed, else as a string).
std::string render_dead_letter(const answer_subject& s, const decision& d,
                               const record_origin& origin,
                               std::string_view original_value,
                               bool original_is_json);

} // namespace wcoord

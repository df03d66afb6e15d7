#pragma once
// Turns a record value into a mutation, or into the 400 answer that explains
// why it is not one. Never throws, never crashes, whatever the bytes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/mutation.hpp"
#include "engine/versioning.hpp"

namespace wcoord {

/// What the record around the value supplies.
struct record_context {
  /// The Kafka key, if the record had one (must equal `id`).
  std::optional<std::string_view> key;
  /// Index used when the value has none.
  std::string_view default_index = "default";
  /// Event time used when the value has no `timestamp`.
  int64_t record_timestamp = 0;
  /// Values longer than this are refused without being parsed.
  size_t max_bytes = 1 << 20;
};

/// Either a valid mutation or the invalid decision. For invalid input the
/// mutation still carries whatever op, index and id could be read, so the
/// answer can name them.
struct parse_result {
  mutation value;
  std::optional<decision> invalid;
  /// False when the value could not be read as a JSON object at all.
  bool parsed = true;
  /// True when the value had an `id` string (else the answer shows null).
  bool has_id = false;
  /// The whole value was read as one JSON text (nesting within 256, UTF-8
  /// checked): a dead letter may embed it without validating it again.
  bool json_text = false;
};

/// Reusable parser; keep one per thread (simdjson parsers are not
/// thread-safe and own a buffer that is worth reusing).
class mutation_parser {
public:
  mutation_parser();
  ~mutation_parser();
  mutation_parser(const mutation_parser&) = delete;
  mutation_parser& operator=(const mutation_parser&) = delete;

  parse_result parse(std::string_view value, const record_context& ctx);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wcoord

#pragma once
// Minimal JSON output helpers. Answers are small and fixed in shape, so
// appending to a string beats building a DOM; only escaping needs care.

#include <cstdint>
#include <string>
#include <string_view>

namespace wcoord::json {

/// Appends `s` as a JSON string literal. Invalid UTF-8 becomes U+FFFD, so
/// the output is always valid JSON whatever bytes came in.
void append_string(std::string& out, std::string_view s);

/// `"key":` with the key escaped.
void append_key(std::string& out, std::string_view key);

inline void append_int(std::string& out, int64_t v) {
  out += std::to_string(v);
}

} // namespace wcoord::json

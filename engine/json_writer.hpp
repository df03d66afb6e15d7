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

/// Appends the longest prefix of `s` that fits, as a JSON string literal of
/// at most `max_bytes` bytes (quotes included, so `max_bytes` >= 2), taking
/// at most `max_input` bytes of `s`. The cut falls between whole units (a
/// UTF-8 sequence, an escape), so the literal is valid JSON and a valid
/// prefix of what append_string writes. Returns the bytes of `s` taken.
size_t append_string_prefix(std::string& out, std::string_view s, size_t max_bytes,
                            size_t max_input = std::string_view::npos);

/// The longest prefix of `s` of at most `max_bytes` bytes that does not end
/// inside a UTF-8 sequence (for cutting messages meant to be read).
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

/// `"key":` with the key escaped.
void append_key(std::string& out, std::string_view key);

inline void append_int(std::string& out, int64_t v) {
  out += std::to_string(v);
}

} // namespace wcoord::json

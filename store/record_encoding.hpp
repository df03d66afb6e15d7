#pragma once
// Byte layout of keys and values in the embedded store. Versioned so that a
// later format can read older state directories.

#include <optional>
#include <string>
#include <string_view>

#include "store/document_store.hpp"

namespace wcoord::encoding {

/// "d" index '\0' id. Index names cannot contain NUL, so this sorts and
/// splits unambiguously.
std::string document_key_bytes(const document_key& key);
std::optional<document_key> parse_document_key(std::string_view bytes);

/// "o" topic '\0' partition (big endian).
std::string offset_key_bytes(const topic_partition& tp);

std::string encode(const stored_document& doc);
std::optional<stored_document> decode(std::string_view bytes);

std::string encode_offset(int64_t offset);
std::optional<int64_t> decode_offset(std::string_view bytes);

/// True if the encoded document is a tombstone or a replay marker (missing
/// document) whose event time is before `cutoff_ms`: safe to drop.
bool expired(std::string_view value_bytes, int64_t cutoff_ms);

} // namespace wcoord::encoding

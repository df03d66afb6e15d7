#pragma once
// Byte layout of keys and values in the embedded store. Versioned so that a
// later format can read older state directories.

#include <optional>
#include <string>
#include <string_view>

#include "store/document_store.hpp"

namespace wcoord::encoding {

/// The store's layout version, kept under `format_key` (store format 2:
/// length-prefixed document keys, sequence numbers in values). Format 1 had
/// no marker.
inline constexpr std::string_view format_key = "v";
inline constexpr std::string_view format_marker = "2";

/// "d", the index's length (4 bytes, big endian), the index, the id: every
/// pair of byte strings has its own key. (Format 1 joined them with a NUL,
/// so index "a" with id "b\0c" and index "a\0b" with id "c" shared one.)
std::string document_key_bytes(const document_key& key);
std::optional<document_key> parse_document_key(std::string_view bytes);

/// "n" index: the next `_seq_no` of an index (`wcoord apply`).
std::string seq_no_key_bytes(std::string_view index);
inline constexpr char seq_no_key_prefix = 'n';

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

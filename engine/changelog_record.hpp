#pragma once
// Reads back a changelog value (the inverse of render_changelog), so a
// partition's state can be rebuilt from the changelog on another instance.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/versioning.hpp"

namespace wcoord {

struct changelog_entry {
  std::string index;
  std::string id;
  /// live (version, source) or tombstone (version, ts), with `_seq_no` and
  /// `_primary_term`; those are unassigned in records written before wcoord
  /// had sequence numbers (the restore then takes the source offset).
  document_state state;
};

/// The changelog record key of a document: `<index>/<id>`. Log compaction
/// keeps one record per key, so the key must name the index too (with the id
/// alone, two indexes' documents with one id shared a key and compaction
/// kept only one of them). Index names never hold '/', so a consumer splits
/// at the first one.
std::string changelog_key(std::string_view index, std::string_view id);

/// Nullopt for anything that is not a changelog value written by wcoord.
std::optional<changelog_entry> parse_changelog(std::string_view value);

} // namespace wcoord

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
  document_state state; // live (version, source) or tombstone (version, ts)
};

/// Nullopt for anything that is not a changelog value written by wcoord.
std::optional<changelog_entry> parse_changelog(std::string_view value);

} // namespace wcoord

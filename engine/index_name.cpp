#include "engine/index_name.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace wcoord {

namespace {

// Elasticsearch 7.x, server/src/main/java/org/elasticsearch/cluster/metadata/
// MetadataCreateIndexService.java: validateIndexName() runs
// validateIndexOrAliasName() (forbidden characters, '#', ':', a leading
// '_', '-' or '+', more than 255 UTF-8 bytes, "." and "..", in this order)
// and then requires `index.toLowerCase(Locale.ROOT).equals(index)`.
// InvalidIndexNameException's message is "Invalid index name [<name>], <why>".
constexpr size_t max_index_name_bytes = 255;

// Strings.INVALID_FILENAME_CHARS is `unmodifiableSet(newHashSet('\\', '/',
// '*', '?', '"', '<', '>', '|', ' ', ','))` (libs/core .../common/Strings.java)
// and the reason prints the set: java.util.HashSet's iteration order for
// these ten Characters (hash = code, 16 buckets), which is what Elasticsearch
// 7 answers.
constexpr std::string_view invalid_chars_text = R"([ , ", *, \, <, |, ,, >, /, ?])";
constexpr std::string_view invalid_chars = "\\/*?\"<>| ,";

/// Code points whose Unicode lowercase mapping differs from themselves, as
/// ranges {first, last, step}: a name holding one is not equal to its
/// toLowerCase(). Generated with Python 3.11 (Unicode 14):
/// [c for c in range(0x110000) if chr(c).lower() != chr(c)], surrogates
/// excluded, runs of step 1 or 2 merged.
struct cased_range {
  uint32_t first, last, step;
};
constexpr cased_range changes_when_lowercased[] = {
#include "engine/uppercase_table.inc"
};

bool changes_when_lowercased_cp(uint32_t cp) {
  auto it = std::upper_bound(std::begin(changes_when_lowercased),
                             std::end(changes_when_lowercased), cp,
                             [](uint32_t c, const cased_range& r) { return c < r.first; });
  if (it == std::begin(changes_when_lowercased))
    return false;
  --it;
  return cp <= it->last && (cp - it->first) % it->step == 0;
}

/// Decodes the next code point of valid UTF-8 (the parser validated it); a
/// stray byte counts as itself, which no table row holds past ASCII.
uint32_t next_code_point(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i++]);
  int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  uint32_t cp = extra == 0 ? b : b & (0x3F >> extra);
  for (; extra > 0 && i < s.size(); --extra)
    cp = cp << 6 | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return cp;
}

} // namespace

std::optional<std::string> invalid_index_name_reason(std::string_view name) {
  auto fail = [&](std::string_view why) {
    return "Invalid index name [" + std::string(name) + "], " + std::string(why);
  };
  if (name.find_first_of(invalid_chars) != std::string_view::npos)
    return fail("must not contain the following characters " + std::string(invalid_chars_text));
  if (name.find('#') != std::string_view::npos)
    return fail("must not contain '#'");
  if (name.find(':') != std::string_view::npos)
    return fail("must not contain ':'");
  if (!name.empty() && (name[0] == '_' || name[0] == '-' || name[0] == '+'))
    return fail("must not start with '_', '-', or '+'");
  if (name.size() > max_index_name_bytes)
    return fail("index name is too long, (" + std::to_string(name.size()) + " > "
                + std::to_string(max_index_name_bytes) + ")");
  if (name == "." || name == "..")
    return fail("must not be '.' or '..'");
  for (size_t i = 0; i < name.size();)
    if (changes_when_lowercased_cp(next_code_point(name, i)))
      return fail("must be lowercase");
  return std::nullopt;
}

} // namespace wcoord

#include "engine/duration.hpp"

#include <charconv>
#include <limits>

namespace wcoord {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data() || n < 0)
    return std::nullopt;
  std::string_view unit(end, text.size() - (end - text.data()));
  int64_t scale;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 3600 * 1000;
  else
    return std::nullopt;
  if (n > std::numeric_limits<int64_t>::max() / scale)
    return std::nullopt;
  return std::chrono::milliseconds(n * scale);
}

} // namespace wcoord

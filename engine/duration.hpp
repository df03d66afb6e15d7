#pragma once
// Durations as users write them: "250ms", "60s", "2m", "24h" (a bare number
// means milliseconds, as in Kafka's *.ms keys).

#include <chrono>
#include <optional>
#include <string_view>

namespace wcoord {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

} // namespace wcoord

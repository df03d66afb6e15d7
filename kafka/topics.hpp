#pragma once
// Start-up checks on the cluster: the mutation topics agree on their
// partition count, and the changelog (compacted, co-partitioned with the
// input) and dead-letter topics exist, created if missing.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wcoord::kafka {

struct topic_plan {
  std::vector<std::string> inputs; // explicit names (regex: the matches)
  std::string changelog;
  std::string deadletter;
  /// Output topics are created with room for the largest accepted input
  /// plus what a changelog or dead-letter record adds around it.
  size_t max_record_bytes = 1 << 20;
};

/// Largest record wcoord may write to its output topics.
size_t output_message_bytes(size_t max_record_bytes);

/// What the output topics accept, as found or created.
struct topic_limits {
  /// Largest dead letter the dead-letter topic takes (`max.message.bytes`
  /// of a topic created elsewhere may be smaller than wcoord would choose).
  size_t deadletter_bytes = 0;
  /// The smaller of both output topics' limits: a producer batch (many
  /// records, one size check on the broker) must not exceed it either.
  size_t smallest_bytes = 0;
};

/// Returns an error message, or nullopt when the topics are ready. With a
/// regex subscription, `regex` selects the inputs among existing topics.
/// Output topics created elsewhere with a `max.message.bytes` below
/// output_message_bytes() are used as they are, with a warning; `limits`
/// then tells the bound dead letters must keep.
std::optional<std::string> prepare_topics(const std::map<std::string, std::string>& props,
                                          topic_plan plan,
                                          const std::string& regex = {},
                                          topic_limits* limits = nullptr);

} // namespace wcoord::kafka

#pragma once
// Consumer-group lag as lag tools compute it: end offset minus the group's
// committed offset, per partition, read from the brokers (not from our own
// memory), so it is what Burrow and kafka-consumer-groups would show.

#include <map>
#include <optional>
#include <string>

#include "store/document_store.hpp"

namespace wcoord::kafka {

/// Lag per partition of `topic`, or nullopt when the cluster cannot be asked.
/// A partition without a committed offset counts from its low watermark.
std::optional<std::map<topic_partition, int64_t>>
group_lag(const std::map<std::string, std::string>& props, const std::string& group,
          const std::string& topic);

} // namespace wcoord::kafka

#include "kafka/consumer_settings.hpp"

namespace wcoord::kafka {

std::map<std::string, std::string> consumer_settings(std::map<std::string, std::string> user,
                                                     bool several_topics) {
  // Invariants after the user's values (ClickHouse's practice).
  user["enable.auto.commit"] = "false";
  user["enable.auto.offset.store"] = "false";
  // Defaults: the user's values win.
  user.emplace("auto.offset.reset", "earliest");
  user.emplace("partition.assignment.strategy", several_topics ? "range" : "cooperative-sticky");
  user.emplace("queued.max.messages.kbytes", default_prefetch_kbytes);
  return user;
}

} // namespace wcoord::kafka

#pragma once
// The librdkafka settings every wcoord consumer of mutations runs with.

#include <map>
#include <string>

namespace wcoord::kafka {

/// Each assigned partition's prefetch bound, in KiB, unless the user sets
/// kafka.queued.max.messages.kbytes. librdkafka's default (64 MiB, and up
/// to queued.min.messages = 100,000 records) is per partition queue, and
/// every prefetched message pins the fetch buffer it arrived in: with four
/// partitions it held ~160 MB of a 370 MB peak (bench/README.md). 4 MiB is
/// ~13,000 records of 300 bytes ahead of each partition, more than
/// max.inflight.records lets into the pipeline, and costs no CPU per record.
inline constexpr const char* default_prefetch_kbytes = "4096";

/// `user` (bootstrap.servers, group.id, kafka.* passthrough) with the
/// invariants wcoord depends on forced (offsets move only when work is
/// durable: no automatic commits or offset stores) and its defaults filled
/// in where the user left a key unset. The assignor is cooperative-sticky
/// for one topic and range for several (or a regex): only range keeps
/// partition N of every topic, and so each document, with one member
/// (service_config refuses the others there).
std::map<std::string, std::string> consumer_settings(std::map<std::string, std::string> user,
                                                     bool several_topics = false);

} // namespace wcoord::kafka

#include "kafka/group_lag.hpp"

#include "kafka/handles.hpp"

namespace wcoord::kafka {

std::optional<std::map<topic_partition, int64_t>>
group_lag(const std::map<std::string, std::string>& props, const std::string& group,
          const std::string& topic) {
  auto p = props;
  p["group.id"] = group;
  p["enable.auto.commit"] = "false";
  std::string err;
  // A consumer handle that never subscribes: it only asks the coordinator.
  auto rk = make_client(RD_KAFKA_CONSUMER, p, err);
  if (!rk)
    return std::nullopt;
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_conf_t* no_conf = nullptr;
  auto* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), no_conf);
  auto merr = rd_kafka_metadata(rk.get(), 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (merr || md->topic_cnt != 1 || md->topics[0].err) {
    if (md)
      rd_kafka_metadata_destroy(md);
    return std::nullopt;
  }
  metadata_ptr owned{md};
  partition_list_ptr list{rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt)};
  for (int i = 0; i < md->topics[0].partition_cnt; ++i)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(),
                                      md->topics[0].partitions[i].id);
  if (rd_kafka_committed(rk.get(), list.get(), 10000))
    return std::nullopt;
  std::map<topic_partition, int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    auto& e = list->elems[i];
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), e.partition, &lo, &hi,
                                         10000))
      return std::nullopt;
    int64_t committed = e.offset >= 0 ? e.offset : lo;
    out[{topic, e.partition}] = hi - committed;
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

} // namespace wcoord::kafka

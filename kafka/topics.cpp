#include "kafka/topics.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <thread>

#include "kafka/handles.hpp"
#include "support/logging.hpp"

namespace wcoord::kafka {

namespace {

constexpr int timeout_ms = 15000;

} // namespace

size_t output_message_bytes(size_t max_record_bytes) {
  return max_record_bytes + (64 << 10); // envelope, headers, a cut original
}

namespace {

std::map<std::string, int> partition_counts(rd_kafka_t* rk, std::string& error) {
  std::map<std::string, int> out;
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err) {
    error = std::string("cannot read cluster metadata: ") + rd_kafka_err2str(err);
    return out;
  }
  metadata_ptr owned{md};
  for (int i = 0; i < md->topic_cnt; ++i)
    if (!md->topics[i].err)
      out[md->topics[i].topic] = md->topics[i].partition_cnt;
  return out;
}

std::optional<std::string> create_topic(rd_kafka_t* rk, const std::string& name,
                                        int partitions, bool compacted,
                                        size_t max_message_bytes) {
  char errstr[512];
  auto* nt = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, errstr, sizeof(errstr));
  if (!nt)
    return "cannot describe topic " + name + ": " + errstr;
  if (compacted)
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  rd_kafka_NewTopic_set_config(nt, "max.message.bytes",
                               std::to_string(max_message_bytes).c_str());
  queue_ptr q{rd_kafka_queue_new(rk)};
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q.get());
  rd_kafka_NewTopic_destroy(nt);
  event_ptr ev{rd_kafka_queue_poll(q.get(), timeout_ms + 5000)};
  if (!ev)
    return "timed out creating topic " + name;
  if (rd_kafka_event_error(ev.get()))
    return "cannot create topic " + name + ": " + rd_kafka_event_error_string(ev.get());
  auto* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  auto** topics = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    auto e = rd_kafka_topic_result_error(topics[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      return "cannot create topic " + name + ": "
             + rd_kafka_topic_result_error_string(topics[i]);
  }
  return std::nullopt;
}

/// `max.message.bytes` of an existing topic; nullopt when it cannot be read.
std::optional<size_t> topic_max_message_bytes(rd_kafka_t* rk, const std::string& name) {
  auto* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  queue_ptr q{rd_kafka_queue_new(rk)};
  rd_kafka_DescribeConfigs(rk, &res, 1, nullptr, q.get());
  rd_kafka_ConfigResource_destroy(res);
  event_ptr ev{rd_kafka_queue_poll(q.get(), timeout_ms + 5000)};
  if (!ev || rd_kafka_event_error(ev.get()))
    return std::nullopt;
  size_t n = 0;
  auto** found = rd_kafka_DescribeConfigs_result_resources(
    rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    size_t m = 0;
    auto** entries = rd_kafka_ConfigResource_configs(found[i], &m);
    for (size_t j = 0; j < m; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      if (value && std::string(rd_kafka_ConfigEntry_name(entries[j])) == "max.message.bytes")
        return static_cast<size_t>(std::strtoull(value, nullptr, 10));
    }
  }
  return std::nullopt;
}

/// Warns when an output topic made elsewhere takes less than wcoord may
/// write to it; returns what it takes.
size_t check_existing_limit(rd_kafka_t* rk, const std::string& name, size_t wanted) {
  auto has = topic_max_message_bytes(rk, name);
  if (!has || *has >= wanted)
    return wanted;
  module_logger("kafka")->warn(
    "topic {} takes records of at most {} bytes (max.message.bytes), less than the {} "
    "wcoord may write for max.record.bytes; dead letters are cut to fit, but a changelog "
    "record of a document near max.record.bytes would stop the process. Raise it with "
    "kafka-configs --alter --entity-type topics --entity-name {} --add-config "
    "max.message.bytes={}, or lower max.record.bytes",
    name, *has, wanted, name, wanted);
  return *has;
}

} // namespace

std::optional<std::string> prepare_topics(const std::map<std::string, std::string>& props,
                                          topic_plan plan, const std::string& regex,
                                          topic_limits* limits) {
  std::string error;
  auto rk = make_client(RD_KAFKA_PRODUCER, props, error);
  if (!rk)
    return "cannot create admin client: " + error;
  auto counts = partition_counts(rk.get(), error);
  if (!error.empty())
    return error;
  if (!regex.empty()) {
    std::regex re(regex);
    for (auto& [name, n] : counts)
      if (std::regex_match(name, re) && name != plan.changelog && name != plan.deadletter)
        plan.inputs.push_back(name);
  }
  int partitions = -1;
  std::string first;
  for (auto& t : plan.inputs) {
    auto i = counts.find(t);
    if (i == counts.end())
      return "mutation topic '" + t + "' does not exist";
    if (partitions >= 0 && i->second != partitions)
      return "mutation topics disagree on partition count: '" + first + "' has "
             + std::to_string(partitions) + ", '" + t + "' has "
             + std::to_string(i->second)
             + " (all topics of one group must be co-partitioned)";
    partitions = i->second;
    first = t;
  }
  if (partitions < 0)
    return regex.empty() ? "no mutation topics configured"
                         : "no existing topic matches topics.regex '" + regex + "'";
  auto log = module_logger("kafka");
  const size_t wanted = output_message_bytes(plan.max_record_bytes);
  size_t deadletter_bytes = wanted, changelog_bytes = wanted;
  if (auto i = counts.find(plan.changelog); i == counts.end()) {
    if (auto e = create_topic(rk.get(), plan.changelog, partitions, true,
                              output_message_bytes(plan.max_record_bytes)))
      return e;
    log->info("created changelog topic {} ({} partitions, compacted)", plan.changelog,
              partitions);
  } else if (i->second < partitions) {
    return "changelog topic '" + plan.changelog + "' has " + std::to_string(i->second)
           + " partitions, fewer than the " + std::to_string(partitions)
           + " of the mutation topics";
  } else {
    changelog_bytes = check_existing_limit(rk.get(), plan.changelog, wanted);
  }
  if (counts.find(plan.deadletter) == counts.end()) {
    if (auto e = create_topic(rk.get(), plan.deadletter, partitions, false,
                              output_message_bytes(plan.max_record_bytes)))
      return e;
    log->info("created dead-letter topic {}", plan.deadletter);
  } else {
    deadletter_bytes = check_existing_limit(rk.get(), plan.deadletter, wanted);
  }
  if (limits) {
    limits->deadletter_bytes = deadletter_bytes;
    limits->smallest_bytes = std::min(deadletter_bytes, changelog_bytes);
  }
  return std::nullopt;
}

} // namespace wcoord::kafka

#include "kafka/changelog_restore.hpp"

#include <caf/send.hpp>

#include <charconv>

#include "actors/messages.hpp"
#include "engine/changelog_record.hpp"
#include "kafka/handles.hpp"
#include "support/logging.hpp"

namespace wcoord::kafka {

namespace {

std::optional<std::string_view> header(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs))
    return std::nullopt;
  const void* val = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &val, &size) || !val)
    return std::nullopt;
  return std::string_view(static_cast<const char*>(val), size);
}

int64_t to_int(std::optional<std::string_view> s, int64_t fallback) {
  if (!s)
    return fallback;
  int64_t v = fallback;
  std::from_chars(s->data(), s->data() + s->size(), v);
  return v;
}

} // namespace

std::optional<std::string> restore_partition(
  const std::map<std::string, std::string>& props, const store_actor& store,
  const std::string& changelog, int32_t partition, const committed_lookup& committed,
  restore_result& result, restore_progress* progress) {
  const topic_partition tp{changelog, partition};
  std::optional<int64_t> checkpoint;
  run_on_store(store, [&](document_store& s) { checkpoint = s.stored_offset(tp); }).get();

  auto p = props;
  p["group.id"] = "wcoord-restore"; // assign() only: never joins a group
  p["enable.auto.commit"] = "false";
  p["enable.partition.eof"] = "true";
  std::string err;
  auto rk = make_client(RD_KAFKA_CONSUMER, p, err);
  if (!rk)
    return "restore consumer: " + err;
  int64_t lo = 0, hi = 0;
  if (auto e = rd_kafka_query_watermark_offsets(rk.get(), changelog.c_str(), partition,
                                                &lo, &hi, 10000))
    return "changelog " + changelog + "/" + std::to_string(partition) + ": "
           + rd_kafka_err2str(e);
  int64_t from = std::max(lo, checkpoint ? *checkpoint + 1 : lo);
  result.from = from;
  result.to = hi;
  if (progress) {
    progress->total = hi - from;
    progress->done = 0;
  }
  if (from >= hi)
    return std::nullopt; // nothing newer than what the store reflects
  partition_list_ptr list{rd_kafka_topic_partition_list_new(1)};
  rd_kafka_topic_partition_list_add(list.get(), changelog.c_str(), partition)->offset = from;
  if (auto e = rd_kafka_assign(rk.get(), list.get()))
    return std::string("restore assign: ") + rd_kafka_err2str(e);

  std::map<topic_partition, std::optional<int64_t>> committed_of; // asked once each
  auto trusted = [&](const stored_document& doc) {
    if (doc.last_source.topic.empty())
      return true; // written before records carried their source
    auto i = committed_of.find(doc.last_source);
    if (i == committed_of.end())
      i = committed_of.emplace(doc.last_source, committed(doc.last_source)).first;
    return i->second && doc.last_offset < *i->second;
  };
  write_batch batch;
  auto flush = [&] {
    if (batch.empty())
      return;
    auto b = std::make_shared<write_batch>(std::move(batch));
    batch = {};
    run_on_store(store, [b](document_store& s) { s.commit(*b); }).get();
  };
  int64_t next = from;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (next < hi) {
    if (std::chrono::steady_clock::now() > deadline)
      return "restore of " + changelog + "/" + std::to_string(partition) + " timed out";
    message_ptr m{rd_kafka_consumer_poll(rk.get(), 500)};
    if (!m)
      continue;
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        break;
      module_logger("kafka")->warn("restore: {}", rd_kafka_message_errstr(m.get()));
      continue;
    }
    next = m->offset + 1;
    ++result.records;
    if (progress)
      progress->done = next - from;
    auto entry = parse_changelog({static_cast<const char*>(m->payload), m->len});
    if (!entry) {
      module_logger("kafka")->warn("restore: skipping unreadable changelog record {}/{}@{}",
                                   changelog, partition, m->offset);
      continue;
    }
    stored_document doc;
    doc.doc = std::move(entry->state);
    if (auto topic = header(m.get(), "wcoord.source.topic")) {
      doc.last_source.topic = std::string(*topic);
      doc.last_source.partition =
        static_cast<int32_t>(to_int(header(m.get(), "wcoord.source.partition"), -1));
      doc.last_offset = to_int(header(m.get(), "wcoord.source.offset"), -1);
    }
    if (doc.doc.seq_no == unassigned_seq_no && doc.last_offset >= 0) {
      // Written before records carried their pair: the one `run` gives now.
      doc.doc.seq_no = seq_no_for_offset(doc.last_offset, unassigned_seq_no);
      doc.doc.primary_term = wcoord_primary_term;
    }
    batch.offsets[tp] = m->offset;
    if (!trusted(doc)) {
      ++result.untrusted;
      continue;
    }
    batch.documents.emplace_back(document_key{entry->index, entry->id}, std::move(doc));
    if (batch.documents.size() >= 5000)
      flush();
  }
  flush();
  rd_kafka_consumer_close(rk.get());
  return std::nullopt;
}

} // namespace wcoord::kafka

#pragma once
// The embedded store: live documents, tombstones, and per input partition the
// offset up to which effects are stored. Implementations are synchronous and
// single-owner; the store actor is the only caller in the service.

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/versioning.hpp"

namespace wcoord {

/// A Kafka partition of an input topic.
struct topic_partition {
  std::string topic;
  int32_t partition = 0;
  bool operator<(const topic_partition& o) const {
    return std::tie(topic, partition) < std::tie(o.topic, o.partition);
  }
  bool operator==(const topic_partition& o) const {
    return topic == o.topic && partition == o.partition;
  }
};

/// The store's record of one (index, id).
struct stored_document {
  document_state doc;
  /// The last record decided for this document (replay detection). Empty
  /// topic when the mutation did not come from Kafka (`wcoord apply`).
  topic_partition last_source;
  int64_t last_offset = -1;
};

struct document_key {
  std::string index;
  std::string id;
  bool operator==(const document_key& o) const {
    return index == o.index && id == o.id;
  }
};

struct document_key_hash {
  size_t operator()(const document_key& k) const noexcept;
};

/// One atomic write: documents and offsets land together or not at all.
struct write_batch {
  std::vector<std::pair<document_key, stored_document>> documents;
  /// Highest offset per partition whose effects this batch completes.
  std::map<topic_partition, int64_t> offsets;
  /// `wcoord apply`: the next `_seq_no` of each index written in the batch
  /// (stored with the documents, so a second run continues the numbering).
  std::map<std::string, int64_t> next_seq_no;
  /// Latest mutation event time (ms) in the batch: the store's clock for
  /// expiring tombstones, so expiry follows event time as the rules do.
  int64_t event_time = std::numeric_limits<int64_t>::min();
  bool empty() const { return documents.empty() && offsets.empty() && next_seq_no.empty(); }
};

/// Any failure of the underlying storage. Fatal for the process: nothing is
/// acknowledged past a failed write.
struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct store_stats {
  uint64_t documents = 0;  // estimate for RocksDB
  uint64_t bytes = 0;      // on-disk (RocksDB) or payload bytes (memory)
};

class document_store {
public:
  virtual ~document_store() = default;

  virtual std::optional<stored_document> load(const document_key& key) = 0;

  /// Applies the batch atomically and durably (process-crash safe).
  virtual void commit(const write_batch& batch) = 0;

  virtual std::optional<int64_t> stored_offset(const topic_partition& tp) = 0;

  /// Every index's next `_seq_no` as committed through write_batch::next_seq_no.
  virtual std::map<std::string, int64_t> next_seq_nos() = 0;

  /// Removes tombstones and replay markers (documents that never existed)
  /// whose event time is before `cutoff_ms`.
  virtual uint64_t sweep(int64_t cutoff_ms) = 0;

  virtual store_stats stats() = 0;

  /// Runs a full compaction now (RocksDB: expired tombstones go). No-op for
  /// stores that do not compact.
  virtual void compact() {}

  /// Visits every document in key order (dumps, tests, restore checks).
  virtual void for_each(
    const std::function<void(const document_key&, const stored_document&)>& f)
    = 0;
};

std::unique_ptr<document_store> make_memory_store();

struct rocksdb_options {
  std::string path;
  /// Bounds RocksDB memory: block cache plus write buffers.
  size_t block_cache_bytes = 64 << 20;
  size_t write_buffer_bytes = 32 << 20;
  /// fsync every commit (power-loss safe) instead of only the WAL write
  /// (process-crash safe).
  bool sync = false;
  /// Tombstones older than this, measured against the latest event time the
  /// store has seen (not the wall clock: replays of old records must still
  /// see them), are dropped during compaction.
  int64_t gc_deletes_ms = 24 * 3600 * 1000LL;
};

std::unique_ptr<document_store> make_rocksdb_store(const rocksdb_options& opts);

} // namespace wcoord

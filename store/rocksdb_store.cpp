// RocksDB-backed store, the default. One DB per state directory; documents
// and partition offsets share one column family so a WriteBatch makes them
// atomic together.

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <vector>

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "store/document_store.hpp"
#include "store/record_encoding.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

void check(const rocksdb::Status& s, const char* what) {
  if (!s.ok())
    throw store_error(std::string("rocksdb ") + what + ": " + s.ToString());
}

const char* event_clock_key = "t";

/// Drops tombstones older than gc.deletes while RocksDB compacts, so deleted
/// documents do not accumulate forever. Age is measured against the latest
/// event time the store has seen, never the wall clock: the rules expire
/// tombstones by event time, and a replay of old records must decide as the
/// first run did.
class tombstone_filter final : public rocksdb::CompactionFilter {
public:
  tombstone_filter(int64_t gc_deletes_ms, const std::atomic<int64_t>& clock)
    : gc_ms_(gc_deletes_ms), clock_(clock) {
    // nop
  }

  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string*, bool*) const override {
    if (key.size() == 0 || key[0] != 'd')
      return false;
    auto now = clock_.load(std::memory_order_relaxed);
    if (now == std::numeric_limits<int64_t>::min())
      return false;
    return encoding::expired({value.data(), value.size()},
                             static_cast<int64_t>(std::max<__int128>(
                               static_cast<__int128>(now) - gc_ms_,
                               std::numeric_limits<int64_t>::min())));
  }

  const char* Name() const override {
    return "wcoord.tombstone_filter";
  }

private:
  int64_t gc_ms_;
  const std::atomic<int64_t>& clock_;
};

/// RocksDB's own log goes to ours (warnings and worse), not to a LOG file
/// in the state directory: on a full disk, RocksDB writing that file while
/// it records the failed write trips an assertion in Debian's build, and
/// the process aborted instead of stopping cleanly (exit 70).
class spdlog_rocksdb_logger final : public rocksdb::Logger {
public:
  spdlog_rocksdb_logger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {
    // nop
  }

  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel())
      return;
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), format, ap);
    log_->log(level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? spdlog::level::err
                                                          : spdlog::level::warn,
              "rocksdb: {}", buf);
  }
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

private:
  std::shared_ptr<spdlog::logger> log_ = module_logger("store");
};

class rocksdb_store final : public document_store {
public:
  explicit rocksdb_store(const rocksdb_options& opts)
    : filter_(opts.gc_deletes_ms, event_clock_) {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.info_log = std::make_shared<spdlog_rocksdb_logger>();
    o.compaction_filter = &filter_;
    o.write_buffer_size = opts.write_buffer_bytes / 2;
    o.max_write_buffer_number = 2;
    o.IncreaseParallelism(2);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(opts.block_cache_bytes);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // RocksDB would create a missing directory too, but only after logging
    // an error about it, which alarms operators on every first start.
    std::error_code ignored; // Open reports what really fails
    std::filesystem::create_directories(opts.path, ignored);
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(o, opts.path, &db), "open");
    db_.reset(db);
    write_options_.sync = opts.sync;
    check_format(opts.path);
    std::string clock;
    auto s = db_->Get(read_options_, event_clock_key, &clock);
    if (s.ok()) {
      if (auto v = encoding::decode_offset(clock))
        event_clock_ = *v;
    } else if (!s.IsNotFound()) {
      check(s, "get event clock");
    }
  }

  ~rocksdb_store() override {
    if (db_)
      db_->Close();
  }

  std::optional<stored_document> load(const document_key& key) override {
    std::string value;
    auto s = db_->Get(read_options_, encoding::document_key_bytes(key), &value);
    if (s.IsNotFound())
      return std::nullopt;
    check(s, "get");
    auto doc = encoding::decode(value);
    if (!doc)
      throw store_error("corrupt record for [" + key.index + "][" + key.id + "]");
    return doc;
  }

  void commit(const write_batch& batch) override {
    rocksdb::WriteBatch wb;
    put_documents_in_key_order(wb, batch);
    for (const auto& [tp, offset] : batch.offsets)
      check(wb.Put(encoding::offset_key_bytes(tp), encoding::encode_offset(offset)),
            "batch put");
    for (const auto& [index, next] : batch.next_seq_no)
      check(wb.Put(encoding::seq_no_key_bytes(index), encoding::encode_offset(next)),
            "batch put");
    const bool clock_moves = batch.event_time > event_clock_.load();
    if (clock_moves)
      check(wb.Put(event_clock_key, encoding::encode_offset(batch.event_time)),
            "batch put");
    check(db_->Write(write_options_, &wb), "write");
    if (clock_moves)
      event_clock_ = batch.event_time;
  }

  /// The memtable is a skip list: an insert next to the previous one
  /// reuses most of its search path, an insert at a random key walks it
  /// from the top with a cache miss per level (12% of `wcoord run`'s CPU
  /// with documents put in arrival order). A document written twice in one
  /// batch keeps only its last state, the one the batch would leave.
  static void put_documents_in_key_order(rocksdb::WriteBatch& wb, const write_batch& batch) {
    const auto& docs = batch.documents;
    std::vector<std::string> keys;
    keys.reserve(docs.size());
    std::vector<uint32_t> order(docs.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      keys.push_back(encoding::document_key_bytes(docs[i].first));
      order[i] = static_cast<uint32_t>(i);
    }
    // Stable: among equal keys the last in `order` is the latest write.
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
    for (size_t j = 0; j < order.size(); ++j) {
      auto i = order[j];
      if (j + 1 < order.size() && keys[order[j + 1]] == keys[i])
        continue; // a later write of the same document follows
      check(wb.Put(keys[i], encoding::encode(docs[i].second)), "batch put");
    }
  }

  std::optional<int64_t> stored_offset(const topic_partition& tp) override {
    std::string value;
    auto s = db_->Get(read_options_, encoding::offset_key_bytes(tp), &value);
    if (s.IsNotFound())
      return std::nullopt;
    check(s, "get offset");
    return encoding::decode_offset(value);
  }

  std::map<std::string, int64_t> next_seq_nos() override {
    std::map<std::string, int64_t> out;
    const char prefix = encoding::seq_no_key_prefix;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_));
    for (it->Seek(rocksdb::Slice(&prefix, 1)); it->Valid() && it->key()[0] == prefix;
         it->Next()) {
      auto next = encoding::decode_offset({it->value().data(), it->value().size()});
      if (!next)
        throw store_error("corrupt sequence number record in store");
      out.emplace(std::string(it->key().data() + 1, it->key().size() - 1), *next);
    }
    check(it->status(), "iterate");
    return out;
  }

  uint64_t sweep(int64_t cutoff_ms) override {
    // Explicit sweep for callers that cannot wait for compaction (tests,
    // operators). Deletes are batched so the sweep itself stays atomic.
    rocksdb::WriteBatch wb;
    uint64_t removed = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_));
    for (it->Seek("d"); it->Valid() && it->key()[0] == 'd'; it->Next()) {
      if (encoding::expired({it->value().data(), it->value().size()}, cutoff_ms)) {
        check(wb.Delete(it->key()), "batch delete");
        ++removed;
      }
    }
    check(it->status(), "iterate");
    check(db_->Write(write_options_, &wb), "sweep");
    return removed;
  }

  void compact() override {
    check(db_->CompactRange(rocksdb::CompactRangeOptions{}, nullptr, nullptr), "compact");
  }

  store_stats stats() override {
    store_stats s;
    db_->GetIntProperty(rocksdb::DB::Properties::kEstimateNumKeys, &s.documents);
    uint64_t sst = 0, mem = 0;
    db_->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst);
    db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
    s.bytes = sst + mem;
    return s;
  }

  void for_each(const std::function<void(const document_key&,
                                         const stored_document&)>& f) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_));
    for (it->Seek("d"); it->Valid() && it->key()[0] == 'd'; it->Next()) {
      auto key = encoding::parse_document_key({it->key().data(), it->key().size()});
      auto doc = encoding::decode({it->value().data(), it->value().size()});
      if (!key || !doc)
        throw store_error("corrupt record in store");
      f(*key, *doc);
    }
    check(it->status(), "iterate");
  }

private:
  /// Refuses a state directory of another layout rather than misreading it.
  /// Format 1 (no marker) cannot be converted: its keys are ambiguous and
  /// its documents have no sequence numbers, which only their history
  /// (the changelog) tells.
  void check_format(const std::string& path) {
    std::string marker;
    auto s = db_->Get(read_options_, rocksdb::Slice(encoding::format_key.data(),
                                                    encoding::format_key.size()), &marker);
    if (s.ok()) {
      if (marker != encoding::format_marker)
        throw store_error("state directory " + path + " holds store format " + marker
                          + ", which this wcoord does not read (it reads format "
                          + std::string(encoding::format_marker) + ")");
      return;
    }
    if (!s.IsNotFound())
      check(s, "get format");
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_));
    it->SeekToFirst();
    check(it->status(), "iterate");
    if (it->Valid())
      throw store_error(
        "state directory " + path + " holds store format 1, written by a wcoord "
        "before sequence numbers (its document keys are ambiguous and its documents "
        "have no _seq_no); this wcoord reads format "
        + std::string(encoding::format_marker)
        + " only. Move the directory away and start again: `wcoord run` rebuilds "
          "its partitions from the changelog, `wcoord apply` state is rebuilt by "
          "applying its input again");
    check(db_->Put(write_options_,
                   rocksdb::Slice(encoding::format_key.data(), encoding::format_key.size()),
                   rocksdb::Slice(encoding::format_marker.data(),
                                  encoding::format_marker.size())),
          "put format");
  }

  std::atomic<int64_t> event_clock_{std::numeric_limits<int64_t>::min()};
  tombstone_filter filter_; // must outlive db_
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ReadOptions read_options_;
  rocksdb::WriteOptions write_options_;
};

} // namespace

std::unique_ptr<document_store> make_rocksdb_store(const rocksdb_options& opts) {
  return std::make_unique<rocksdb_store>(opts);
}

} // namespace wcoord

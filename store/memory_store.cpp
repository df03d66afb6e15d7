// In-memory store for tests and `wcoord apply` without --state-dir.

#include <map>
#include <mutex>

#include "store/document_store.hpp"
#include "store/record_encoding.hpp"

namespace wcoord {

namespace {

class memory_store final : public document_store {
public:
  std::optional<stored_document> load(const document_key& key) override {
    auto i = docs_.find(encoding::document_key_bytes(key));
    if (i == docs_.end())
      return std::nullopt;
    return i->second;
  }

  void commit(const write_batch& batch) override {
    for (const auto& [key, doc] : batch.documents) {
      auto& slot = docs_[encoding::document_key_bytes(key)];
      bytes_ -= slot.doc.source.size();
      slot = doc;
      bytes_ += doc.doc.source.size();
    }
    for (const auto& [tp, offset] : batch.offsets)
      offsets_[tp] = offset;
    for (const auto& [index, next] : batch.next_seq_no)
      next_seq_no_[index] = next;
  }

  std::map<std::string, int64_t> next_seq_nos() override {
    return next_seq_no_;
  }

  std::optional<int64_t> stored_offset(const topic_partition& tp) override {
    auto i = offsets_.find(tp);
    if (i == offsets_.end())
      return std::nullopt;
    return i->second;
  }

  uint64_t sweep(int64_t cutoff_ms) override {
    uint64_t removed = 0;
    for (auto i = docs_.begin(); i != docs_.end();) {
      const auto& d = i->second.doc;
      bool drop = d.state != document_state::kind::live
                  && d.delete_timestamp < cutoff_ms;
      if (drop) {
        i = docs_.erase(i);
        ++removed;
      } else {
        ++i;
      }
    }
    return removed;
  }

  store_stats stats() override {
    return {docs_.size(), bytes_};
  }

  void for_each(const std::function<void(const document_key&,
                                         const stored_document&)>& f) override {
    for (const auto& [bytes, doc] : docs_)
      f(*encoding::parse_document_key(bytes), doc);
  }

private:
  // Ordered like RocksDB so that dumps of both stores compare equal.
  std::map<std::string, stored_document> docs_;
  std::map<topic_partition, int64_t> offsets_;
  std::map<std::string, int64_t> next_seq_no_;
  uint64_t bytes_ = 0;
};

} // namespace

std::unique_ptr<document_store> make_memory_store() {
  return std::make_unique<memory_store>();
}

} // namespace wcoord

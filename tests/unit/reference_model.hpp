#pragma once
// An independent, deliberately naive statement of semantics.md used to check
// the engine: written from the tables, sharing no code with engine/.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace reference {

struct doc {
  bool exists = false;  // live or tombstone (not yet expired)
  bool deleted = false; // tombstone
  int64_t version = 0;
  int64_t deleted_at = 0;
  std::string source;
  int64_t seq_no = -2; // of the write that made it
  int64_t term = 0;
};

struct op {
  std::string kind; // index, create, delete
  std::string id;
  std::optional<int64_t> version;
  std::string vtype; // internal, external, external_gte
  std::string source;
  int64_t ts = 0;
};

/// What a write adds for sequence numbers: compare-and-set, and the Kafka
/// record's offset (numbering by offset).
struct pair_fields {
  std::optional<int64_t> if_seq_no; // with if_term
  int64_t if_term = 0;
  int64_t offset = 0;
};

struct answer {
  int status = 0;
  std::string outcome;
  int64_t version = 0;
  std::string result;
  int64_t seq_no = -2;
  int64_t term = 0;
};

/// How applied writes are numbered: `wcoord apply` counts from 0 in input
/// order (one counter per model: one index); `wcoord run` takes the
/// record's offset, or one more than the document's last number.
enum class numbering { dense, by_offset };

class model {
public:
  explicit model(int64_t gc, numbering n = numbering::dense) : gc_(gc), numbering_(n) {}

  answer apply(const op& o, const pair_fields& x = {}) {
    doc& d = docs_[o.id];
    // The document's last number survives an expired tombstone.
    int64_t& last_seq = last_seq_.try_emplace(o.id, -2).first->second;
    if (d.exists && d.deleted && o.ts - d.deleted_at > gc_)
      d = doc{};
    const int64_t cur = d.exists ? d.version : -1;
    const bool live = d.exists && !d.deleted;
    const bool ext = o.vtype != "internal";
    // Compare-and-set: only against a live document's exact pair.
    if (x.if_seq_no && (!live || d.seq_no != *x.if_seq_no || d.term != x.if_term))
      return {409, "conflict", 0, "", -2, 0};
    if (o.kind == "create" && live)
      return {409, "conflict", 0, ""};
    if (o.kind != "create" && !ext && o.version && *o.version != cur)
      return {409, "conflict", 0, ""};
    if (o.vtype == "external" && cur != -1 && cur >= *o.version)
      return {409, "stale", 0, ""};
    if (o.vtype == "external_gte" && cur != -1 && cur > *o.version)
      return {409, "stale", 0, ""};
    int64_t v = ext ? *o.version : (cur == -1 ? 1 : cur + 1);
    answer a;
    a.outcome = "applied";
    a.version = v;
    a.seq_no = numbering_ == numbering::dense ? next_seq_++
                                              : std::max(x.offset, last_seq + 1);
    a.term = 1;
    last_seq = a.seq_no;
    if (o.kind == "delete") {
      a.status = live ? 200 : 404;
      a.result = live ? "deleted" : "not_found";
      d = doc{true, true, v, o.ts, "", a.seq_no, a.term};
    } else {
      a.status = live ? 200 : 201;
      a.result = live ? "updated" : "created";
      d = doc{true, false, v, 0, o.source, a.seq_no, a.term};
    }
    return a;
  }

  const std::map<std::string, doc>& docs() const { return docs_; }

private:
  int64_t gc_;
  numbering numbering_;
  int64_t next_seq_ = 0;
  std::map<std::string, doc> docs_;
  std::map<std::string, int64_t> last_seq_;
};

} // namespace reference

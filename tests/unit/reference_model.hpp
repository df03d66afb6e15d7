#pragma once
// An independent, deliberately naive statement of semantics.md used to check
// the engine: written from the tables, sharing no code with engine/.

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
};

struct op {
  std::string kind; // index, create, delete
  std::string id;
  std::optional<int64_t> version;
  std::string vtype; // internal, external, external_gte
  std::string source;
  int64_t ts = 0;
};

struct answer {
  int status = 0;
  std::string outcome;
  int64_t version = 0;
  std::string result;
};

class model {
public:
  explicit model(int64_t gc) : gc_(gc) {}

  answer apply(const op& o) {
    doc& d = docs_[o.id];
    if (d.exists && d.deleted && o.ts - d.deleted_at > gc_)
      d = doc{};
    const int64_t cur = d.exists ? d.version : -1;
    const bool live = d.exists && !d.deleted;
    const bool ext = o.vtype != "internal";
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
    if (o.kind == "delete") {
      a.status = live ? 200 : 404;
      a.result = live ? "deleted" : "not_found";
      d = doc{true, true, v, o.ts, ""};
    } else {
      a.status = live ? 200 : 201;
      a.result = live ? "updated" : "created";
      d = doc{true, false, v, 0, o.source};
    }
    return a;
  }

  const std::map<std::string, doc>& docs() const { return docs_; }

private:
  int64_t gc_;
  std::map<std::string, doc> docs_;
};

} // namespace reference

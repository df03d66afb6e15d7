#include "engine/changelog_record.hpp"

#include <simdjson.h>

namespace wcoord {

std::string changelog_key(std::string_view index, std::string_view id) {
  std::string key;
  key.reserve(index.size() + 1 + id.size());
  key.append(index);
  key += '/';
  key.append(id);
  return key;
}

std::optional<changelog_entry> parse_changelog(std::string_view value) {
  namespace od = simdjson::ondemand;
  static thread_local od::parser parser;
  simdjson::padded_string padded(value);
  od::document doc;
  if (parser.iterate(padded).get(doc))
    return std::nullopt;
  od::object obj;
  if (doc.get_object().get(obj))
    return std::nullopt;
  changelog_entry e;
  std::string_view result;
  int64_t version = -1, ts = 0;
  bool has_source = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return std::nullopt;
    od::value v = field.value();
    std::string_view s;
    if (key == "_index") {
      if (v.get_string().get(s))
        return std::nullopt;
      e.index = s;
    } else if (key == "_id") {
      if (v.get_string().get(s))
        return std::nullopt;
      e.id = s;
    } else if (key == "_version") {
      if (v.get_int64().get(version))
        return std::nullopt;
    } else if (key == "_seq_no") {
      if (v.get_int64().get(e.state.seq_no))
        return std::nullopt;
    } else if (key == "_primary_term") {
      if (v.get_int64().get(e.state.primary_term))
        return std::nullopt;
    } else if (key == "timestamp") {
      if (v.get_int64().get(ts))
        return std::nullopt;
    } else if (key == "result") {
      if (v.get_string().get(result))
        return std::nullopt;
      e.state.source.clear(); // keep `result` valid: copy below
      e.state.state = (result == "deleted" || result == "not_found")
                        ? document_state::kind::tombstone
                        : document_state::kind::live;
    } else if (key == "_source") {
      od::object src;
      const char* begin = nullptr;
      if (v.current_location().get(begin) || v.get_object().get(src))
        return std::nullopt;
      // The source was written byte-exact; take it back the same way: from
      // its '{' to the '}' before the next token.
      for (auto f : src) {
        std::string_view k;
        if (f.unescaped_key().get(k))
          return std::nullopt;
      }
      const char* next = nullptr;
      if (doc.current_location().get(next))
        return std::nullopt;
      const char* end = next;
      while (end > begin && end[-1] != '}')
        --end;
      e.state.source.assign(begin, static_cast<size_t>(end - begin));
      has_source = true;
    }
  }
  if (e.id.empty() || version < 0 || result.empty())
    return std::nullopt;
  e.state.version = version;
  if (e.state.state == document_state::kind::tombstone) {
    e.state.delete_timestamp = ts;
    e.state.source.clear();
  } else if (!has_source) {
    return std::nullopt;
  }
  return e;
}

} // namespace wcoord

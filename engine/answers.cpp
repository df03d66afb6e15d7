#include "engine/answers.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "engine/json_writer.hpp"

namespace wcoord {

namespace {

void append_error(std::string& out, const error_info& e, std::string_view index,
                  std::string_view shard) {
  out += "\"error\":{";
  json::append_key(out, "type");
  json::append_string(out, e.type);
  out += ',';
  json::append_key(out, "reason");
  json::append_string(out, e.reason);
  out += ',';
  json::append_key(out, "index");
  json::append_string(out, index);
  out += ',';
  json::append_key(out, "shard");
  json::append_string(out, shard);
  out += '}';
}

} // namespace

std::string render_bulk_item(const answer_subject& s, const decision& d,
                             std::string_view shard) {
  std::string out;
  out.reserve(160 + s.id.size());
  out += "{\"";
  out += to_string(s.parsed ? s.op : op_type::index);
  out += "\":{";
  if (s.parsed) {
    out += "\"_index\":";
    json::append_string(out, s.index);
    out += ",\"_id\":";
    if (s.has_id)
      json::append_string(out, s.id);
    else
      out += "null";
    out += ',';
  }
  if (d.kind == outcome::applied) {
    out += "\"_version\":";
    json::append_int(out, d.version);
    out += ",\"result\":\"";
    out += to_string(d.result);
    out += "\",\"_seq_no\":";
    json::append_int(out, d.seq_no);
    out += ",\"_primary_term\":";
    json::append_int(out, d.primary_term);
    out += ',';
  }
  out += "\"status\":";
  json::append_int(out, d.status);
  out += ",\"outcome\":\"";
  out += to_string(d.kind);
  out += '"';
  if (d.error) {
    out += ',';
    append_error(out, *d.error, s.index, shard);
  }
  out += "}}";
  return out;
}

std::string render_changelog(const mutation& m, const decision& d) {
  std::string out;
  out.reserve(96 + m.index.size() + m.id.size() + m.source.size());
  out += "{\"_index\":";
  json::append_string(out, m.index);
  out += ",\"_id\":";
  json::append_string(out, m.id);
  out += ",\"_version\":";
  json::append_int(out, d.version);
  out += ",\"_seq_no\":";
  json::append_int(out, d.seq_no);
  out += ",\"_primary_term\":";
  json::append_int(out, d.primary_term);
  out += ",\"result\":\"";
  out += to_string(d.result);
  out += "\",\"timestamp\":";
  json::append_int(out, m.timestamp);
  if (m.op != op_type::remove) {
    out += ",\"_source\":";
    out += m.source; // byte-exact, as received
  }
  out += '}';
  return out;
}

std::string dead_letter_reason(std::string_view reason) {
  auto kept = json::utf8_prefix(reason, dead_letter_limits::reason_bytes);
  std::string out(kept);
  if (kept.size() < reason.size())
    out += "...";
  return out;
}

namespace {

/// A strict RFC 8259 recognizer: the grammar only, so numbers of any size
/// are JSON (simdjson's parsers refuse 99999999999999999999 and 1e999,
/// which other readers take), and `07` is not. Nesting is capped well below
/// what common readers (Python's json, jq) handle.
class json_recognizer {
public:
  explicit json_recognizer(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {
    // nop
  }

  bool whole_text() {
    if (!value(0))
      return false;
    blank();
    return p_ == end_;
  }

private:
  static constexpr int max_depth = 512;

  void blank() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  bool next_is(char c) {
    blank();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  bool digits() {
    const char* start = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
      ++p_;
    return p_ > start;
  }

  bool number() {
    if (p_ < end_ && *p_ == '-')
      ++p_;
    if (p_ < end_ && *p_ == '0')
      ++p_; // a leading zero stands alone
    else if (p_ >= end_ || *p_ < '1' || *p_ > '9' || !digits())
      return false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits())
        return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (!digits())
        return false;
    }
    return true;
  }

  bool string() { // at the opening quote; UTF-8 was checked for the whole
    for (++p_; p_ < end_;) {
      auto c = static_cast<unsigned char>(*p_++);
      if (c == '"')
        return true;
      if (c < 0x20)
        return false;
      if (c != '\\')
        continue;
      if (p_ >= end_)
        return false;
      char e = *p_++;
      if (e == 'u') {
        for (int i = 0; i < 4; ++i, ++p_)
          if (p_ >= end_ || !std::isxdigit(static_cast<unsigned char>(*p_)))
            return false;
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size()
        || word.compare(0, word.size(), p_, word.size()) != 0)
      return false;
    p_ += word.size();
    return true;
  }

  bool value(int depth) {
    blank();
    if (p_ >= end_)
      return false;
    switch (*p_) {
      case '{':
        ++p_;
        if (depth >= max_depth)
          return false;
        if (next_is('}'))
          return true;
        do {
          blank();
          if (p_ >= end_ || *p_ != '"' || !string() || !next_is(':') || !value(depth + 1))
            return false;
        } while (next_is(','));
        return next_is('}');
      case '[':
        ++p_;
        if (depth >= max_depth)
          return false;
        if (next_is(']'))
          return true;
        do {
          if (!value(depth + 1))
            return false;
        } while (next_is(','));
        return next_is(']');
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  const char* p_;
  const char* end_;
};

} // namespace

bool is_json_text(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size()) && json_recognizer(text).whole_text();
}

dead_letter_value render_dead_letter(const answer_subject& s, const decision& d,
                                     const record_origin& origin,
                                     std::string_view original_value, size_t max_bytes,
                                     bool known_json) {
  max_bytes = std::max(max_bytes, dead_letter_limits::min_value_bytes);
  dead_letter_value r;
  std::string& out = r.text;
  out.reserve(256 + std::min(original_value.size(), max_bytes));
  out += "{\"status\":";
  json::append_int(out, d.status);
  out += ",\"outcome\":\"";
  out += to_string(d.kind);
  out += "\",";
  // Every field of the envelope is bounded, so whatever the record the
  // envelope stays far below min_value_bytes and the rest is the original's.
  error_info e = d.error ? *d.error : error_info{"unknown", ""};
  e.reason = dead_letter_reason(e.reason);
  append_error(out, e, json::utf8_prefix(s.index, dead_letter_limits::index_bytes),
               std::to_string(origin.partition));
  out += ",\"source\":{\"topic\":";
  json::append_string(out, origin.topic);
  out += ",\"partition\":";
  json::append_int(out, origin.partition);
  out += ",\"offset\":";
  json::append_int(out, origin.offset);
  out += ",\"timestamp\":";
  json::append_int(out, origin.timestamp);
  out += "},";
  const size_t head = out.size();
  constexpr std::string_view field = "\"mutation\":";
  // What is left for the original's text, keeping one byte for the '}'.
  auto room = [&] { return max_bytes > out.size() + 1 ? max_bytes - out.size() - 1 : 0; };
  // Whole, as JSON: only a fully valid JSON text keeps the dead letter JSON.
  if (head + field.size() + original_value.size() + 1 <= max_bytes
      && (known_json || is_json_text(original_value))) {
    out += field;
    out.append(original_value);
    out += '}';
    return r;
  }
  // Whole, as a string, when its escaped form fits.
  out += field;
  if (json::append_string_prefix(out, original_value, room()) == original_value.size()) {
    out += '}';
    return r;
  }
  // Cut: a valid prefix, and how large the original was.
  out.resize(head);
  r.mutation_truncated = true;
  out += "\"mutation_truncated\":true,\"mutation_bytes\":";
  json::append_int(out, static_cast<int64_t>(original_value.size()));
  out += ',';
  out += field;
  json::append_string_prefix(out, original_value, std::max<size_t>(room(), 2),
                             dead_letter_limits::kept_original_bytes);
  out += '}';
  return r;
}

size_t bound_headers(std::vector<std::pair<std::string, std::string>>& headers,
                     size_t max_bytes) {
  size_t used = 0;
  size_t dropped = 0;
  auto keep = std::remove_if(headers.begin(), headers.end(), [&](const auto& h) {
    const size_t n = h.first.size() + h.second.size() + dead_letter_limits::header_framing_bytes;
    if (n > max_bytes - used) {
      ++dropped;
      return true;
    }
    used += n;
    return false;
  });
  headers.erase(keep, headers.end());
  return dropped;
}

} // namespace wcoord

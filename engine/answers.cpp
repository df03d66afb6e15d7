#include "engine/answers.hpp"

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
    out += "\",";
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

std::string render_dead_letter(const answer_subject& s, const decision& d,
                               const record_origin& origin,
                               std::string_view original_value,
                               bool original_is_json) {
  std::string out;
  out.reserve(256 + original_value.size());
  out += "{\"status\":";
  json::append_int(out, d.status);
  out += ",\"outcome\":\"";
  out += to_string(d.kind);
  out += "\",";
  static const error_info none{"unknown", ""};
  append_error(out, d.error ? *d.error : none, s.index,
               std::to_string(origin.partition));
  out += ",\"source\":{\"topic\":";
  json::append_string(out, origin.topic);
  out += ",\"partition\":";
  json::append_int(out, origin.partition);
  out += ",\"offset\":";
  json::append_int(out, origin.offset);
  out += ",\"timestamp\":";
  json::append_int(out, origin.timestamp);
  out += "},\"mutation\":";
  if (original_is_json)
    out.append(original_value);
  else
    json::append_string(out, original_value);
  out += '}';
  return out;
}

} // namespace wcoord

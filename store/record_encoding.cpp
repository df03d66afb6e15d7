#include "store/record_encoding.hpp"

#include <cstring>
#include <functional>

namespace wcoord {

size_t document_key_hash::operator()(const document_key& k) const noexcept {
  size_t h = std::hash<std::string>{}(k.id);
  return h ^ (std::hash<std::string>{}(k.index) + 0x9e3779b97f4a7c15ULL
              + (h << 6) + (h >> 2));
}

namespace encoding {

namespace {

/// First byte of every document value; format 1 values lack the sequence
/// numbers.
constexpr char format_version = 2;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

bool get_u64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8)
    return false;
  v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(8);
  return true;
}

void put_string(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

bool get_string(std::string_view& in, std::string& s) {
  uint64_t n;
  if (!get_u64(in, n) || in.size() < n)
    return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

} // namespace

std::string document_key_bytes(const document_key& key) {
  std::string out;
  out.reserve(5 + key.index.size() + key.id.size());
  out += 'd';
  const auto n = static_cast<uint32_t>(key.index.size());
  for (int i = 3; i >= 0; --i)
    out += static_cast<char>((n >> (8 * i)) & 0xFF);
  out += key.index;
  out += key.id;
  return out;
}

std::optional<document_key> parse_document_key(std::string_view bytes) {
  if (bytes.size() < 5 || bytes[0] != 'd')
    return std::nullopt;
  uint32_t n = 0;
  for (int i = 1; i <= 4; ++i)
    n = n << 8 | static_cast<unsigned char>(bytes[i]);
  bytes.remove_prefix(5);
  if (bytes.size() < n)
    return std::nullopt;
  return document_key{std::string(bytes.substr(0, n)), std::string(bytes.substr(n))};
}

std::string seq_no_key_bytes(std::string_view index) {
  std::string out(1, seq_no_key_prefix);
  out.append(index);
  return out;
}

std::string offset_key_bytes(const topic_partition& tp) {
  std::string out = "o" + tp.topic;
  out += '\0';
  put_u64(out, static_cast<uint32_t>(tp.partition));
  return out;
}

// Layout: version(1) kind(1) version(8) delete_ts(8) last_partition(8)
// last_offset(8) seq_no(8) primary_term(8) last_topic(len+bytes)
// source(len+bytes). expired() reads the first 18 bytes.
std::string encode(const stored_document& d) {
  std::string out;
  out.reserve(64 + d.doc.source.size() + d.last_source.topic.size());
  out += format_version;
  out += static_cast<char>(d.doc.state);
  put_u64(out, static_cast<uint64_t>(d.doc.version));
  put_u64(out, static_cast<uint64_t>(d.doc.delete_timestamp));
  put_u64(out, static_cast<uint64_t>(static_cast<int64_t>(d.last_source.partition)));
  put_u64(out, static_cast<uint64_t>(d.last_offset));
  put_u64(out, static_cast<uint64_t>(d.doc.seq_no));
  put_u64(out, static_cast<uint64_t>(d.doc.primary_term));
  put_string(out, d.last_source.topic);
  put_string(out, d.doc.source);
  return out;
}

std::optional<stored_document> decode(std::string_view in) {
  if (in.size() < 2 || in[0] != format_version)
    return std::nullopt;
  stored_document d;
  auto kind = static_cast<uint8_t>(in[1]);
  if (kind > 2)
    return std::nullopt;
  d.doc.state = static_cast<document_state::kind>(kind);
  in.remove_prefix(2);
  uint64_t version, ts, partition, offset, seq_no, term;
  if (!get_u64(in, version) || !get_u64(in, ts) || !get_u64(in, partition)
      || !get_u64(in, offset) || !get_u64(in, seq_no) || !get_u64(in, term)
      || !get_string(in, d.last_source.topic) || !get_string(in, d.doc.source))
    return std::nullopt;
  d.doc.seq_no = static_cast<int64_t>(seq_no);
  d.doc.primary_term = static_cast<int64_t>(term);
  d.doc.version = static_cast<int64_t>(version);
  d.doc.delete_timestamp = static_cast<int64_t>(ts);
  d.last_source.partition = static_cast<int32_t>(static_cast<int64_t>(partition));
  d.last_offset = static_cast<int64_t>(offset);
  return d;
}

std::string encode_offset(int64_t offset) {
  std::string out;
  put_u64(out, static_cast<uint64_t>(offset));
  return out;
}

std::optional<int64_t> decode_offset(std::string_view bytes) {
  uint64_t v;
  if (!get_u64(bytes, v))
    return std::nullopt;
  return static_cast<int64_t>(v);
}

bool expired(std::string_view in, int64_t cutoff_ms) {
  if (in.size() < 18 || in[0] != format_version)
    return false;
  auto kind = static_cast<document_state::kind>(in[1]);
  if (kind == document_state::kind::live)
    return false;
  in.remove_prefix(10);
  uint64_t ts;
  get_u64(in, ts);
  return static_cast<int64_t>(ts) < cutoff_ms;
}

} // namespace encoding
} // namespace wcoord

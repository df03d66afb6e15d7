#include "engine/json_writer.hpp"

#include <algorithm>

namespace wcoord::json {

namespace {

/// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  static constexpr uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

} // namespace

void append_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  // Printable ASCII other than '"' and '\\' is written as is.
  auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; };
  out += '"';
  for (size_t i = 0; i < s.size();) {
    // Most text needs no escaping: copy it a run at a time (appending byte
    // by byte was 3.5% of the service's CPU, bench/README.md).
    size_t run = i;
    while (run < s.size() && plain(static_cast<unsigned char>(s[run])))
      ++run;
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size())
      break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

size_t append_string_prefix(std::string& out, std::string_view s, size_t max_bytes,
                            size_t max_input) {
  // First find how much fits, unit by unit (the sizes append_string
  // writes), then write that prefix with append_string itself: a cut at a
  // unit boundary leaves every unit before it unchanged.
  const size_t limit = std::min(s.size(), max_input);
  size_t room = max_bytes > 2 ? max_bytes - 2 : 0;
  size_t i = 0;
  while (i < limit) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t in = 1;
    size_t escaped = 1;
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s, i);
      if (n == 0)
        escaped = 6; // U+FFFD escaped
      else
        in = escaped = n;
    } else if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b'
               || c == '\f') {
      escaped = 2;
    } else if (c < 0x20) {
      escaped = 6; // a six-byte control escape
    }
    if (i + in > limit || escaped > room)
      break;
    room -= escaped;
    i += in;
  }
  append_string(out, s.substr(0, i));
  return i;
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes)
    return s;
  // s[k] is the first byte left out: if it continues a sequence, move the
  // cut back to that sequence's lead byte (at most 3 bytes back).
  size_t k = max_bytes;
  for (int back = 0; k > 0 && back < 3 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80;
       ++back)
    --k;
  if ((static_cast<unsigned char>(s[k]) & 0xC0) == 0x80)
    k = max_bytes; // not UTF-8 there anyway
  return s.substr(0, k);
}

void append_key(std::string& out, std::string_view key) {
  append_string(out, key);
  out += ':';
}

} // namespace wcoord::json

#pragma once
// Reads lines from a FILE* in large chunks. Lines longer than `max_bytes`
// are consumed but not kept (only their length), so one giant line cannot
// exhaust memory.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace wcoord {

class line_reader {
public:
  line_reader(std::FILE* in, size_t max_bytes);

  /// Next line without its newline; false at end of input. `oversized` is
  /// set (and `line` empty) when the line exceeded the limit; `length` is
  /// its full length.
  bool next(std::string_view& line, bool& oversized, size_t& length);

private:
  bool fill();

  std::FILE* in_;
  size_t max_bytes_;
  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  std::string long_line_;
};

} // namespace wcoord

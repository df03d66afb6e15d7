#include "app/line_reader.hpp"

#include <cstring>

namespace wcoord {

line_reader::line_reader(std::FILE* in, size_t max_bytes)
  : in_(in), max_bytes_(max_bytes), buf_(1 << 20) {
  // nop
}

bool line_reader::fill() {
  if (eof_)
    return false;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size())
    return true; // full buffer without newline: caller spills
  auto n = std::fread(buf_.data() + end_, 1, buf_.size() - end_, in_);
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += n;
  return true;
}

bool line_reader::next(std::string_view& line, bool& oversized, size_t& length) {
  long_line_.clear();
  size_t spilled = 0; // bytes of this line already moved out of buf_
  for (;;) {
    auto* start = buf_.data() + begin_;
    auto* nl = static_cast<char*>(std::memchr(start, '\n', end_ - begin_));
    if (nl) {
      size_t n = static_cast<size_t>(nl - start);
      length = spilled + n;
      oversized = length > max_bytes_;
      if (oversized) {
        line = {};
      } else if (spilled > 0) {
        long_line_.append(start, n);
        line = long_line_;
      } else {
        line = {start, n};
      }
      begin_ += n + 1;
      return true;
    }
    if (end_ - begin_ == buf_.size()) {
      // A line longer than the buffer: keep it only while under the limit.
      size_t n = end_ - begin_;
      if (spilled + n <= max_bytes_)
        long_line_.append(start, n);
      spilled += n;
      begin_ = end_ = 0;
    }
    if (!fill()) {
      size_t n = end_ - begin_;
      if (n == 0 && spilled == 0)
        return false;
      length = spilled + n;
      oversized = length > max_bytes_;
      if (oversized) {
        line = {};
      } else {
        long_line_.append(buf_.data() + begin_, n);
        line = long_line_;
      }
      begin_ = end_ = 0;
      return true;
    }
  }
}

} // namespace wcoord

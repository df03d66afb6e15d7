// Lines of any length come out whole, or (over the limit) as a length only.

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "app/line_reader.hpp"

using wcoord::line_reader;

namespace {

std::vector<std::pair<std::string, size_t>> read_all(const std::string& text, size_t max) {
  std::FILE* f = fmemopen(const_cast<char*>(text.data()), text.size(), "r");
  REQUIRE(f);
  line_reader r{f, max};
  std::vector<std::pair<std::string, size_t>> out;
  std::string_view line;
  bool oversized = false;
  size_t length = 0;
  while (r.next(line, oversized, length))
    out.emplace_back(oversized ? "<oversized>" : std::string(line), length);
  std::fclose(f);
  return out;
}

} // namespace

TEST_CASE("short lines, a last line without newline, empty lines") {
  auto got = read_all("a\n\nbc\nlast", 100);
  REQUIRE(got.size() == 4);
  CHECK(got[0].first == "a");
  CHECK(got[1].first.empty());
  CHECK(got[2].first == "bc");
  CHECK(got[3].first == "last");
}

TEST_CASE("lines longer than the buffer survive; over the limit only the length") {
  std::string two_mb(2 << 20, 'x');
  std::string text = "s\n" + two_mb + "\n" + std::string(5 << 20, 'y') + "\nz\n";
  auto got = read_all(text, 3 << 20);
  REQUIRE(got.size() == 4);
  CHECK(got[0].first == "s");
  CHECK(got[1].first == two_mb);
  CHECK(got[2].first == "<oversized>");
  CHECK(got[2].second == (5u << 20));
  CHECK(got[3].first == "z");
}

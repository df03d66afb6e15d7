#pragma once
// A small argument walker for the subcommands: `--name value`,
// `--name=value` and plain flags, with uniform error messages.

#include <charconv>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace wcoord {

class command_line {
public:
  command_line(int argc, char** argv) : argc_(argc), argv_(argv) {
    // nop
  }

  bool more() const { return i_ < argc_; }

  bool flag(std::string_view a, std::string_view b = {}) {
    std::string_view cur = argv_[i_];
    if (cur == a || (!b.empty() && cur == b)) {
      ++i_;
      return true;
    }
    return false;
  }

  std::optional<std::string> value(std::string_view name) {
    std::string_view cur = argv_[i_];
    if (cur == name) {
      if (i_ + 1 >= argc_) {
        missing_ = std::string(name);
        ++i_;
        return std::nullopt;
      }
      i_ += 2;
      return std::string(argv_[i_ - 1]);
    }
    if (cur.size() > name.size() && cur.substr(0, name.size()) == name
        && cur[name.size()] == '=') {
      ++i_;
      return std::string(cur.substr(name.size() + 1));
    }
    return std::nullopt;
  }

  int fail(const std::string& msg) const {
    std::cerr << "wcoord: " << msg << "\n";
    return 2;
  }

  int fail_unknown(const char* usage) const {
    if (!missing_.empty())
      return fail("option " + missing_ + " needs a value");
    std::cerr << "wcoord: unknown argument '" << argv_[i_] << "'\n\n" << usage;
    return 2;
  }

private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string missing_;
};

inline bool parse_size(std::string_view s, size_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

} // namespace wcoord

#pragma once
// The command lines of the small benchmark tools (copy_ceiling,
// latency_probe): `--name value` options, some repeatable, and `--flag`
// switches, checked against the names each tool knows.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bench {

class tool_args {
public:
  tool_args(const char* tool, const char* usage, int argc, char** argv,
            const std::set<std::string>& options, const std::set<std::string>& flags)
    : tool_(tool), usage_(usage) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (flags.count(a)) {
        values_[a].emplace_back();
      } else if (options.count(a)) {
        if (i + 1 >= argc)
          fail("missing value after " + a);
        values_[a].emplace_back(argv[++i]);
      } else {
        fail("unknown argument " + a);
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }

  /// The last value given, or `fallback`; `required` options end the tool
  /// with the usage when missing.
  std::string get(const std::string& name, const char* fallback = nullptr) const {
    auto i = values_.find(name);
    if (i != values_.end())
      return i->second.back();
    if (!fallback)
      fail("missing " + name);
    return fallback;
  }

  std::vector<std::string> all(const std::string& name) const {
    auto i = values_.find(name);
    return i == values_.end() ? std::vector<std::string>{} : i->second;
  }

  [[noreturn]] void fail(const std::string& what) const {
    std::fprintf(stderr, "%s: %s\nusage: %s\n", tool_, what.c_str(), usage_);
    std::exit(2);
  }

private:
  const char* tool_;
  const char* usage_;
  std::map<std::string, std::vector<std::string>> values_;
};

} // namespace bench

#pragma once
// The writers of `wcoord demo`: processes that race on the same documents
// the way sync jobs, services and loaders do in production. Each returns
// its mutations (JSON lines keyed by id) in the order it would send them.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wcoord::demo {

struct writer {
  std::string name;
  std::string what; // one line for the summary
  std::vector<std::pair<std::string, std::string>> records; // key, value
};

/// Builds the writers for `customers` documents, deterministic per seed.
std::vector<writer> make_writers(int customers, uint64_t seed);

} // namespace wcoord::demo

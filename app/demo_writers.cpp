#include "app/demo_writers.hpp"

#include <algorithm>
#include <random>

namespace wcoord::demo {

namespace {

std::string customer(int i) {
  return "cust-" + std::to_string(i);
}

} // namespace

std::vector<writer> make_writers(int customers, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<writer> out;
  const int versions = 5;
  // Two replicas of the primary database's change stream. Both carry the
  // row version as an external version; replica B is behind and delivers
  // out of order, so most of its writes are older than what already won.
  for (const char* name : {"replica-a", "replica-b"}) {
    writer w{name, "sync job replicating the customers table (external versions)", {}};
    for (int v = 1; v <= versions; ++v)
      for (int i = 0; i < customers; ++i)
        w.records.emplace_back(
          customer(i),
          "{\"op\":\"index\",\"index\":\"customers\",\"id\":\"" + customer(i)
                   + "\",\"version_type\":\"external\",\"version\":" + std::to_string(v)
                   + ",\"doc\":{\"name\":\"customer " + std::to_string(i)
                   + "\",\"row_version\":" + std::to_string(v) + ",\"via\":\"" + name
                   + "\"}}");
    if (std::string(name) == "replica-b")
      std::shuffle(w.records.begin(), w.records.end(), rng);
    out.push_back(std::move(w));
  }
  // Two instances of a service doing read-modify-write with internal
  // versions on the same carts: every lost race is a real conflict.
  for (const char* name : {"checkout-1", "checkout-2"}) {
    writer w{name, "service updating carts with expected versions (internal)", {}};
    for (int round = 1; round <= 4; ++round)
      for (int i = 0; i < customers / 4; ++i) {
        auto id = "cart-" + std::to_string(i);
        w.records.emplace_back(
          id, "{\"op\":\"index\",\"index\":\"carts\",\"id\":\"" + id + "\",\"version\":"
                + std::to_string(round) + ",\"doc\":{\"items\":" + std::to_string(round)
                + ",\"by\":\"" + name + "\"}}");
      }
    out.push_back(std::move(w));
  }
  // A loader that creates carts (once only, so re-runs conflict) and
  // removes stale customers, plus a client with a serialisation bug.
  writer loader{"loader", "batch loader: creates carts, deletes customers", {}};
  for (int i = 0; i < customers / 4; ++i) {
    auto id = "cart-" + std::to_string(i);
    loader.records.emplace_back(
      id, "{\"op\":\"create\",\"index\":\"carts\",\"id\":\"" + id + "\",\"doc\":{\"items\":0}}");
  }
  for (int i = 0; i < customers; i += 10)
    loader.records.emplace_back(
      customer(i), "{\"op\":\"delete\",\"index\":\"customers\",\"id\":\"" + customer(i)
                     + "\",\"version_type\":\"external\",\"version\":" + std::to_string(versions + 1)
                     + "}");
  out.push_back(std::move(loader));
  writer buggy{"buggy-client", "client with a serialisation bug (malformed records)", {}};
  for (int i = 0; i < customers / 20; ++i) {
    auto id = customer(i);
    const char* bad[] = {"{\"op\":\"index\",\"id\":\"", "{\"op\":\"upsert\",\"id\":\"",
                         "{\"op\":\"index\",\"version_type\":\"external\",\"id\":\""};
    std::string v = bad[i % 3] + id + "\",\"doc\":{\"truncated\":";
    if (i % 3 != 0)
      v += "1}}";
    buggy.records.emplace_back(id, v);
  }
  out.push_back(std::move(buggy));
  return out;
}

} // namespace wcoord::demo

#pragma once
// A deterministic, realistic input for the engine benchmark: JSON lines held
// in one buffer, shaped like the streams wcoord decides in production.
//
//   * ~70% of the generated operations are external-version writes from a
//     source database replicated three ways: a document gets bursts of
//     successive versions, each version is delivered by one of three
//     replicas with its own lag (60%: none, 30%: up to 64 lines, 10%: up to
//     4096 lines), and 10% are delivered twice. The same id's versions therefore arrive out
//     of order and partly duplicated: the late ones are stale. A few are
//     external_gte writes, a few are external deletes.
//   * ~28% are a service's internal-version writes on its own ids, in order:
//     creates (some on existing documents: conflict), index with the expected
//     current version (some outdated: conflict), unconditional index, deletes
//     with and without an expected version.
//   * ~2% are malformed in a variety of ways (truncated JSON, unknown op,
//     missing id, create with an external version, a string version, a
//     non-object doc).
//
// Document bodies are 100-300 bytes; ids are 16 hex digits; ids are drawn
// with a skew (a few hot documents, a long tail).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace wcoord::bench {

enum class gen_kind : uint8_t {
  ext_index,
  ext_gte_index,
  ext_delete,
  int_create_new,
  int_create_existing,
  int_index_expected,
  int_index_outdated,
  int_index_plain,
  int_delete,
  malformed,
  count_
};

inline const char* to_string(gen_kind k) {
  switch (k) {
    case gen_kind::ext_index: return "external index";
    case gen_kind::ext_gte_index: return "external_gte index";
    case gen_kind::ext_delete: return "external delete";
    case gen_kind::int_create_new: return "create (new doc)";
    case gen_kind::int_create_existing: return "create (existing doc)";
    case gen_kind::int_index_expected: return "internal index, expected version";
    case gen_kind::int_index_outdated: return "internal index, outdated version";
    case gen_kind::int_index_plain: return "internal index, no version";
    case gen_kind::int_delete: return "internal delete";
    case gen_kind::malformed: return "malformed";
    case gen_kind::count_: break;
  }
  return "?";
}

struct workload {
  /// Every line, back to back (no separators).
  std::string bytes;
  /// offsets[i] .. offsets[i+1] is line i.
  std::vector<uint64_t> offsets;
  std::array<uint64_t, static_cast<size_t>(gen_kind::count_)> by_kind{};
  /// Deliveries of an external version that is not the newest one seen so
  /// far for its id in input order (duplicates included): the stale ones.
  uint64_t out_of_order = 0;
  uint64_t doc_bytes = 0;
  uint64_t docs = 0;

  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::string_view line(size_t i) const {
    return {bytes.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])};
  }
};

namespace detail {

struct event {
  double pos;          // delivery position; events are sorted by it
  uint32_t id;         // document number
  gen_kind kind;
  uint8_t variant;     // malformed flavour, delete with/without version
  int64_t version;     // external version, or expected internal version (0: none)
  uint64_t salt;       // seeds the document body
};

/// splitmix64: cheap to seed, unlike mt19937_64 (one per document body).
struct small_rng {
  uint64_t state;
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

inline std::string hex_id(uint32_t n) {
  // A stable, well-spread id per document number.
  const uint64_t z = small_rng{n}();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
  return buf;
}

constexpr std::array<const char*, 12> first_names{
  "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald",
  "Frances", "John", "Margaret", "Ken", "Radia", "Leslie"};
constexpr std::array<const char*, 12> last_names{
  "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth",
  "Allen", "McCarthy", "Hamilton", "Thompson", "Perlman", "Lamport"};
constexpr std::array<const char*, 8> cities{
  "Lisbon", "Berlin", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Pune"};
constexpr std::array<const char*, 4> tiers{"bronze", "silver", "gold", "platinum"};
constexpr std::array<const char*, 16> words{
  "order", "shipped", "pending", "refund", "priority", "customer", "note",
  "address", "changed", "billing", "invoice", "sent", "call", "back",
  "warehouse", "delayed"};

/// A JSON object of 100-300 bytes that looks like a customer record.
inline void render_doc(std::string& out, uint64_t salt) {
  small_rng r{salt};
  const size_t target = 100 + r() % 201;
  const size_t start = out.size();
  const char* first = first_names[r() % first_names.size()];
  const char* last = last_names[r() % last_names.size()];
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"name\":\"%s %s\",\"email\":\"%s.%s%u@example.com\","
                "\"tier\":\"%s\",\"score\":%u",
                first, last, first, last, static_cast<unsigned>(r() % 1000),
                tiers[r() % tiers.size()], static_cast<unsigned>(r() % 100000));
  out += buf;
  if (target >= 170) {
    std::snprintf(buf, sizeof buf,
                  ",\"active\":%s,\"tags\":[\"t%u\",\"t%u\"],"
                  "\"address\":{\"city\":\"%s\",\"zip\":\"%05u\"}",
                  (r() & 1) ? "true" : "false", static_cast<unsigned>(r() % 50),
                  static_cast<unsigned>(r() % 50), cities[r() % cities.size()],
                  static_cast<unsigned>(r() % 100000));
    out += buf;
  }
  // `,"notes":"` + text + `"}` fills up to the target.
  const size_t used = out.size() - start;
  if (used + 12 < target) {
    out += ",\"notes\":\"";
    const size_t want = target - used - 12;
    size_t n = 0;
    while (n < want) {
      const char* w = words[r() % words.size()];
      std::string_view sv{w};
      if (n > 0) {
        out += ' ';
        ++n;
      }
      sv = sv.substr(0, std::min(sv.size(), want > n ? want - n : 0));
      out += sv;
      n += sv.size();
      if (sv.empty())
        break;
    }
    out += '"';
  }
  out += '}';
}

inline void append_int(std::string& out, int64_t v) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  out.append(buf, static_cast<size_t>(n));
}

} // namespace detail

/// Builds `mutations` lines over `ids` documents. Same seed, same lines
/// (event timestamps are offsets from `base_ms`).
inline workload generate_workload(size_t mutations, size_t ids, uint64_t seed,
                                  int64_t base_ms) {
  using detail::event;
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u01{0.0, 1.0};
  auto below = [&](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  const uint32_t n_ext = static_cast<uint32_t>(std::max<size_t>(1, ids * 7 / 10));
  const uint32_t n_int = static_cast<uint32_t>(std::max<size_t>(1, ids - std::min<size_t>(ids, n_ext)));
  // Skewed pick: density ~ 1/sqrt(x), about 10% of picks hit the hottest 1%.
  auto pick = [&](uint32_t n) {
    double u = u01(rng);
    return std::min<uint32_t>(n - 1, static_cast<uint32_t>(n * u * u));
  };
  std::vector<int64_t> ext_version(n_ext, 0);
  std::vector<int64_t> int_version(n_int, 0);
  std::vector<uint8_t> int_live(n_int, 0);

  std::vector<event> events;
  events.reserve(mutations);
  double slot = 0;
  auto push = [&](event e) {
    if (events.size() < mutations)
      events.push_back(e);
  };
  while (events.size() < mutations) {
    slot += 1;
    const double r = u01(rng);
    // A burst averages ~2.4 deliveries, so per line the mix is about 70%
    // external, 28% internal, 2% malformed.
    if (r < 0.49) {
      // A burst of successive versions of one replicated document.
      const uint32_t id = pick(n_ext);
      size_t len = 1;
      while (len < 8 && u01(rng) < 0.55)
        ++len;
      for (size_t k = 0; k < len; ++k) {
        auto& v = ext_version[id];
        v += below(10) == 0 ? 2 + static_cast<int64_t>(below(4)) : 1;
        const double x = u01(rng);
        const gen_kind kind = x < 0.05   ? gen_kind::ext_delete
                              : x < 0.15 ? gen_kind::ext_gte_index
                                         : gen_kind::ext_index;
        // The primary forwards most versions; two replicas lag behind.
        const double which = u01(rng);
        const int replica = which < 0.6 ? 0 : which < 0.9 ? 1 : 2;
        const double lag = replica == 0   ? 0.0
                           : replica == 1 ? static_cast<double>(below(64))
                                          : static_cast<double>(below(4096));
        const double pos = slot + static_cast<double>(k) * (1 + below(3)) + lag;
        push({pos, id, kind, 0, v, rng()});
        if (u01(rng) < 0.10) // delivered twice (another replica, later)
          push({pos + 1 + static_cast<double>(below(256)), id, kind, 0, v, rng()});
      }
      slot += static_cast<double>(len);
    } else if (r < 0.968) {
      // The service's own documents: internal versions, in order.
      const uint32_t k = pick(n_int);
      const uint32_t id = n_ext + k;
      auto& v = int_version[k];
      auto& live = int_live[k];
      event e{slot, id, gen_kind::int_index_plain, 0, 0, rng()};
      const double x = u01(rng);
      if (!live) {
        e.kind = x < 0.85 ? gen_kind::int_create_new : gen_kind::int_index_plain;
        ++v;
        live = 1;
      } else if (x < 0.42) {
        e.kind = gen_kind::int_index_expected;
        e.version = v++;
      } else if (x < 0.57) {
        e.kind = gen_kind::int_index_outdated;
        e.version = v > 2 ? v - 1 - static_cast<int64_t>(below(2)) : v + 1;
      } else if (x < 0.77) {
        e.kind = gen_kind::int_index_plain;
        ++v;
      } else if (x < 0.88) {
        e.kind = gen_kind::int_create_existing;
      } else {
        e.kind = gen_kind::int_delete;
        e.variant = static_cast<uint8_t>(below(2)); // 1: with expected version
        e.version = e.variant ? v : 0;
        ++v;
        live = 0;
      }
      push(e);
    } else {
      push({slot, pick(n_ext), gen_kind::malformed,
            static_cast<uint8_t>(below(6)), 1 + static_cast<int64_t>(below(100)), rng()});
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const event& a, const event& b) { return a.pos < b.pos; });

  workload w;
  w.offsets.reserve(events.size() + 1);
  w.bytes.reserve(events.size() * 330);
  std::vector<int64_t> newest(n_ext, 0);
  std::string id;
  for (const auto& e : events) {
    w.offsets.push_back(w.bytes.size());
    ++w.by_kind[static_cast<size_t>(e.kind)];
    auto& out = w.bytes;
    const size_t line_start = out.size();
    id = detail::hex_id(e.id);
    const bool ext = e.id < n_ext;
    const char* index = ext ? (e.id % 2 ? "customers" : "accounts") : "carts";
    const int64_t ts = base_ms + static_cast<int64_t>(e.pos);
    auto head = [&](const char* op) {
      out += "{\"op\":\"";
      out += op;
      out += "\",\"index\":\"";
      out += index;
      out += "\",\"id\":\"";
      out += id;
      out += '"';
    };
    auto version = [&](const char* vtype, int64_t v) {
      if (vtype) {
        out += ",\"version_type\":\"";
        out += vtype;
        out += '"';
      }
      out += ",\"version\":";
      detail::append_int(out, v);
    };
    auto doc = [&] {
      out += ",\"doc\":";
      const size_t before = out.size();
      detail::render_doc(out, e.salt);
      w.doc_bytes += out.size() - before;
      ++w.docs;
    };
    auto tail = [&] {
      out += ",\"timestamp\":";
      detail::append_int(out, ts);
      out += '}';
    };
    switch (e.kind) {
      case gen_kind::ext_index:
      case gen_kind::ext_gte_index:
      case gen_kind::ext_delete:
        if (e.version <= newest[e.id])
          ++w.out_of_order;
        newest[e.id] = std::max(newest[e.id], e.version);
        head(e.kind == gen_kind::ext_delete ? "delete" : "index");
        version(e.kind == gen_kind::ext_gte_index ? "external_gte" : "external",
                e.version);
        if (e.kind != gen_kind::ext_delete)
          doc();
        tail();
        break;
      case gen_kind::int_create_new:
      case gen_kind::int_create_existing:
        head("create");
        doc();
        tail();
        break;
      case gen_kind::int_index_expected:
      case gen_kind::int_index_outdated:
        head("index");
        version(nullptr, e.version);
        doc();
        tail();
        break;
      case gen_kind::int_index_plain:
        head("index");
        doc();
        tail();
        break;
      case gen_kind::int_delete:
        head("delete");
        if (e.variant)
          version("internal", e.version);
        tail();
        break;
      case gen_kind::malformed:
        switch (e.variant) {
          case 0: { // truncated mid-record
            head("index");
            version("external", e.version);
            doc();
            tail();
            const size_t len = out.size() - line_start;
            out.resize(line_start + 10 + e.salt % (len - 20));
            break;
          }
          case 1: // unknown op
            head("upsert");
            doc();
            tail();
            break;
          case 2: // no id
            out += "{\"op\":\"index\",\"index\":\"";
            out += index;
            out += '"';
            doc();
            tail();
            break;
          case 3: // create cannot take an external version
            head("create");
            version("external", e.version);
            doc();
            tail();
            break;
          case 4: // version is not an integer
            head("index");
            out += ",\"version_type\":\"external\",\"version\":\"v";
            detail::append_int(out, e.version);
            out += '"';
            doc();
            tail();
            break;
          default: // doc is not an object
            head("index");
            version("external", e.version);
            out += ",\"doc\":\"name=Ada;tier=gold\"";
            tail();
            break;
        }
        break;
      case gen_kind::count_:
        break;
    }
  }
  w.offsets.push_back(w.bytes.size());
  return w;
}

/// The passivation workload (`wcoord_engine_bench --churn`): `mutations`
/// external-version index writes that visit `ids` documents round-robin, so
/// with more ids than `passivation.active.entity.limit` every line after
/// the first `limit` needs an actor that is not live: cyclic access is least
/// recently used eviction's worst case (it evicts the document that comes
/// back next), so every line after round 0 re-activates its document and
/// loads it from the store. Round r (0-based) writes version r + 1; one
/// line in ten of rounds >= 1 repeats the previous round's version instead
/// (stale, or applied after a stale repeat), so the decisions depend on the
/// state each document carried through its passivations: a lost state
/// would change the counts of applied and stale decisions against the
/// unbounded run's.
inline workload generate_churn_workload(size_t mutations, size_t ids, uint64_t seed,
                                        int64_t base_ms) {
  workload w;
  ids = std::max<size_t>(1, ids);
  w.offsets.reserve(mutations + 1);
  w.bytes.reserve(mutations * 330);
  for (size_t i = 0; i < mutations; ++i) {
    w.offsets.push_back(w.bytes.size());
    const size_t round = i / ids;
    const uint32_t n = static_cast<uint32_t>(i % ids);
    const bool repeat = round > 0 && detail::small_rng{seed ^ i}() % 10 == 0;
    auto& out = w.bytes;
    out += "{\"op\":\"index\",\"index\":\"";
    out += n % 2 ? "customers" : "accounts";
    out += "\",\"id\":\"";
    out += detail::hex_id(n);
    out += "\",\"version_type\":\"external\",\"version\":";
    detail::append_int(out, static_cast<int64_t>(repeat ? round : round + 1));
    out += ",\"doc\":";
    const size_t before = out.size();
    detail::render_doc(out, seed * 0x9e3779b97f4a7c15ULL + i);
    w.doc_bytes += out.size() - before;
    ++w.docs;
    out += ",\"timestamp\":";
    detail::append_int(out, base_ms + static_cast<int64_t>(i));
    out += '}';
    ++w.by_kind[static_cast<size_t>(gen_kind::ext_index)];
    if (repeat)
      ++w.out_of_order;
  }
  w.offsets.push_back(w.bytes.size());
  return w;
}

} // namespace wcoord::bench

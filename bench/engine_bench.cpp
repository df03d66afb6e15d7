// The engine benchmark (run on demand, never by ctest):
//
//   ninja -C build wcoord_engine_bench && build/bench/wcoord_engine_bench
//
// Generates a realistic, deterministic stream of JSON-line mutations in
// memory (bench/workload.hpp), then measures, each pass in its own forked
// child process so that peak RSS is per pass:
//
//   parse-only      wcoord::mutation_parser over every line on one thread:
//                   the ceiling for a single feeding thread;
//   engine/memory   what `wcoord apply` does minus stdin/stdout: parse on the
//   engine/rocksdb  feeding thread, submit through pipeline/submitter under a
//                   credit window, and wait for every durable effect at a
//                   sink actor that records each mutation's decision latency
//                   (submit -> durable effect at the sink).

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/pipeline.hpp"
#include "app/actor_system_setup.hpp"
#include "app/command_line.hpp"
#include "app/credit_gate.hpp"
#include "bench/workload.hpp"
#include "engine/mutation_parser.hpp"

using namespace wcoord;
namespace fs = std::filesystem;

// Markers around the timed part of an engine pass, for profilers:
//   valgrind --tool=callgrind --trace-children=yes
//     --zero-before=wcoord_bench_timed_begin --dump-before=wcoord_bench_timed_end
extern "C" __attribute__((noinline)) void wcoord_bench_timed_begin() {
  asm volatile("");
}
extern "C" __attribute__((noinline)) void wcoord_bench_timed_end() {
  asm volatile("");
}

namespace {

constexpr const char* usage = R"(usage: wcoord_engine_bench [options]

Measures the mutation parser alone (the ceiling of one feeding thread) and the
whole engine (parse + pipeline + store, as `wcoord apply` runs it) on a
generated, deterministic stream. Each pass runs in a forked child process.

options:
  --mutations N      lines to generate (default 1000000)
  --ids N            distinct documents (default 100000)
  --store S          memory | rocksdb | both (default both)
  --state-dir DIR    where the RocksDB pass keeps its state: a fresh
                     subdirectory of DIR, removed afterwards (default: a
                     temporary directory under $TMPDIR or /tmp)
  --seed N           workload seed (default 42)
  --no-reference     skip the reference rows (inline/*: parse + decide + store
                     on one thread without actors)
  --window N         mutations in flight, as `wcoord apply --window` (default 65536)
  --shards N         shards (default: max(2, cores), as `wcoord apply`)
  --threads N        CAF scheduler threads (default: max(2, cores))
  --batch N          submitter batch size per shard (default 256)
  --runs N           run each pass N times, report the median run (default 1)
  --caf KEY=VALUE    extra CAF setting for experiments, repeatable, e.g.
                     --caf scheduler.policy=sharing
                     --caf work-stealing.moderate-sleep-duration=500us
  --churn            the passivation benchmark instead: --ids (default
                     1000000) documents visited round-robin, --mutations
                     (default 2 x ids) external writes, each store run once
                     with --entity-limit and once unbounded (the baseline);
                     rates before and after the limit is reached
  --entity-limit N   passivation.active.entity.limit of the engine passes
                     (default 100000, the service default)
  -h, --help         this text
)";

using steady = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           steady::now().time_since_epoch())
    .count();
}

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

struct options {
  size_t mutations = 1000000;
  size_t ids = 100000;
  bool memory = true;
  bool rocksdb = true;
  bool reference = true;
  std::string state_dir;
  uint64_t seed = 42;
  size_t window = 65536;
  size_t shards = std::max(2u, std::thread::hardware_concurrency());
  size_t threads = 0;
  size_t batch = 256;
  size_t runs = 1;
  size_t entity_limit = 100000;
  bool churn = false;
  bool ids_given = false;
  bool mutations_given = false;
  /// Extra CAF settings for experiments (`--caf key=value`).
  std::vector<std::pair<std::string, std::string>> caf;
};

/// `--caf` values: an integer, a duration (ns/us/ms/s suffix) or an atom.
void apply_caf_setting(caf::actor_system_config& cfg, const std::string& key,
                       const std::string& value) {
  size_t n = 0;
  if (parse_size(value, n)) {
    cfg.set(key, n);
    return;
  }
  for (auto [suffix, ns] : {std::pair<const char*, int64_t>{"ns", 1},
                            {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}}) {
    const size_t len = std::strlen(suffix);
    if (value.size() > len && value.compare(value.size() - len, len, suffix) == 0
        && parse_size(value.substr(0, value.size() - len), n)) {
      cfg.set(key, caf::timespan{static_cast<int64_t>(n) * ns});
      return;
    }
  }
  cfg.set(key, caf::atom_from_string(value));
}

// ---------------------------------------------------------------- memory --

/// A field of /proc/self/status in kB (VmRSS, VmHWM), 0 if unavailable.
uint64_t status_kb(const char* field) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtoull(line.c_str() + n + 1, nullptr, 10);
  }
  return 0;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0); false if not permitted.
bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f)
    return false;
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok;
}

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint64_t peak_rss_kb() {
  if (auto hwm = status_kb("VmHWM"))
    return hwm;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss);
}

// ------------------------------------------------------------- children --

/// What a child reports back through its pipe (plain bytes).
struct pass_result {
  bool ok = false;
  double seconds = 0;
  uint64_t count = 0;
  double p50_ms = -1, p99_ms = -1, max_ms = -1;
  uint64_t base_rss_kb = 0;  // RSS when the pass started (input included)
  uint64_t peak_rss_kb = 0;  // VmHWM at the end of the pass
  bool peak_was_reset = false;
  std::array<uint64_t, 4> outcomes{}; // by wcoord::outcome
  uint64_t activations = 0, passivations = 0;
  double cpu_seconds = 0;     // the child's user + system time
  double timed_cpu = 0;       // ... during the timed part only
  double others_busy = -1;    // share of the machine's CPU used by others
  /// Seconds from the start until every mutation below `segment_ends[k]`
  /// (engine_pass's argument) was durable: rates per part of the input.
  std::array<double, 3> segment_done_s{};
  /// engine.stop() and ~actor_system: stopping every live actor.
  double teardown_seconds = 0;
  char error[256] = {};
};

/// Aggregate jiffies from /proc/stat: {busy, total}.
std::pair<uint64_t, uint64_t> machine_jiffies() {
  std::ifstream in{"/proc/stat"};
  std::string cpu;
  uint64_t v[10] = {};
  in >> cpu;
  for (auto& x : v)
    in >> x;
  uint64_t total = 0;
  for (int i = 0; i < 8; ++i) // guest time is already in user/nice
    total += v[i];
  const uint64_t idle = v[3] + v[4];
  return {total - idle, total};
}

/// Runs `body` in a forked child and returns what it reported. The parent
/// holds no threads, so forking is safe; the actor system (and RocksDB) are
/// created only in the child, and their memory dies with it.
pass_result run_in_child(const std::function<void(pass_result&)>& body) {
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const auto before = machine_jiffies();
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    close(fds[0]);
    pass_result r;
    r.peak_was_reset = reset_peak_rss();
    r.base_rss_kb = status_kb("VmRSS");
    try {
      body(r);
    } catch (const std::exception& e) {
      r.ok = false;
      std::snprintf(r.error, sizeof r.error, "%s", e.what());
    }
    r.peak_rss_kb = peak_rss_kb();
    r.cpu_seconds = process_cpu_seconds();
    const char* p = reinterpret_cast<const char*>(&r);
    size_t left = sizeof r;
    while (left > 0) {
      ssize_t n = write(fds[1], p, left);
      if (n <= 0)
        break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    close(fds[1]);
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(0);
  }
  close(fds[1]);
  pass_result r;
  char* p = reinterpret_cast<char*>(&r);
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = read(fds[0], p + got, sizeof r - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto after = machine_jiffies();
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double total = static_cast<double>(after.second - before.second) / hz;
  const double busy = static_cast<double>(after.first - before.first) / hz;
  if (total > 0)
    r.others_busy = std::max(0.0, (busy - r.cpu_seconds) / total);
  if (got != sizeof r) {
    r = pass_result{};
    std::snprintf(r.error, sizeof r.error, "child died (status %d)", status);
  }
  return r;
}

// ------------------------------------------------------------ the passes --

void parse_only(const bench::workload& w, pass_result& out) {
  mutation_parser parser;
  record_context ctx;
  ctx.record_timestamp = wall_clock_ms();
  uint64_t invalid = 0, bytes = 0;
  const double cpu0 = process_cpu_seconds();
  const auto start = steady::now();
  for (size_t i = 0; i < w.size(); ++i) {
    auto r = parser.parse(w.line(i), ctx);
    invalid += r.invalid.has_value();
    bytes += r.value.source.size(); // keeps the result observable
  }
  out.seconds = std::chrono::duration<double>(steady::now() - start).count();
  out.timed_cpu = process_cpu_seconds() - cpu0;
  out.count = w.size();
  out.outcomes[static_cast<size_t>(outcome::invalid)] = invalid;
  out.ok = bytes > 0 || w.size() == 0;
}

std::shared_ptr<document_store> open_store(const std::string& rocksdb_path) {
  if (rocksdb_path.empty())
    return make_memory_store();
  rocksdb_options ro;
  ro.path = rocksdb_path;
  return make_rocksdb_store(ro);
}

/// A reference, not a goal: the same per-mutation work as the actors (parse,
/// load on first sight, decide, keep the state, group-commit every 4096
/// effects) on one thread, without actors, messages or a credit window. What
/// separates it from the engine pass is the cost of the pipeline itself.
void inline_pass(const bench::workload& w, const std::string& rocksdb_path,
                 pass_result& out) {
  auto store = open_store(rocksdb_path);
  std::unordered_map<document_key, stored_document, document_key_hash> docs;
  write_batch batch;
  const int64_t gc_deletes_ms = pipeline_options{}.gc_deletes_ms;
  const double cpu0 = process_cpu_seconds();
  const auto start = steady::now();
  {
    mutation_parser parser;
    record_context ctx;
    for (size_t i = 0; i < w.size(); ++i) {
      ctx.record_timestamp = wall_clock_ms();
      auto r = parser.parse(w.line(i), ctx);
      if (r.invalid) {
        ++out.outcomes[static_cast<size_t>(outcome::invalid)];
        continue;
      }
      const mutation& m = r.value;
      document_key key{m.index, m.id};
      auto it = docs.find(key);
      if (it == docs.end()) {
        auto loaded = store->load(key);
        it = docs.emplace(key, loaded ? std::move(*loaded) : stored_document{}).first;
      }
      auto& cur = it->second;
      document_state next = cur.doc;
      auto d = decide(cur.doc, m, gc_deletes_ms, next);
      ++out.outcomes[static_cast<size_t>(d.kind)];
      if (d.kind == outcome::applied) {
        cur.doc = std::move(next);
        batch.documents.emplace_back(std::move(key), cur);
        if (batch.documents.size() >= pipeline_options{}.store_batch) {
          store->commit(batch);
          batch.documents.clear();
        }
      }
    }
    if (!batch.empty())
      store->commit(batch);
  }
  out.seconds = std::chrono::duration<double>(steady::now() - start).count();
  out.timed_cpu = process_cpu_seconds() - cpu0;
  out.count = w.size();
  out.ok = true;
}

double percentile_ms(std::vector<int64_t>& v, double q) {
  if (v.empty())
    return -1;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

void engine_pass(const bench::workload& w, const options& o,
                 const std::string& rocksdb_path, pass_result& out,
                 size_t entity_limit, std::array<size_t, 3> segment_ends = {}) {
  const size_t n = w.size();
  // Preallocated and touched before the clock starts: one slot per ticket.
  std::vector<int64_t> submitted(n, 0);
  std::vector<int64_t> latency(n, -1);
  std::array<uint64_t, 4> outcomes{};

  std::shared_ptr<document_store> store = open_store(rocksdb_path);
  auto teardown_start = steady::now();
  {
    caf::actor_system_config cfg;
    configure_actor_system(cfg, o.threads);
    for (const auto& [key, value] : o.caf)
      apply_caf_setting(cfg, key, value);
    caf::actor_system sys{cfg};
    auto gate = std::make_shared<credit_gate>(o.window);
    // The sink: every durable effect ends here; it records the decision
    // latency per ticket and hands the credits back, like apply's writer.
    auto sink = sys.spawn([&submitted, &latency, &outcomes,
                           gate](caf::event_based_actor*) -> caf::behavior {
      return {
        [&submitted, &latency, &outcomes, gate](const effect_batch& batch) {
          const int64_t now = now_ns();
          for (const auto& e : *batch) {
            const auto t = e.work->ticket;
            latency[t] = now - submitted[t];
            ++outcomes[static_cast<size_t>(e.verdict.kind)];
          }
          gate->release(batch->size());
        },
      };
    });
    pipeline_options popts;
    popts.shards = o.shards;
    popts.entity_limit = entity_limit;
    popts.sequence_by_index.emplace(); // numbered as `wcoord apply` numbers
    pipeline engine{sys, store, sink, popts};

    wcoord_bench_timed_begin();
    const double cpu0 = process_cpu_seconds();
    const auto start = steady::now();
    const int64_t start_ns = now_ns();
    {
      mutation_parser parser;
      submitter feed{engine, o.batch};
      record_context ctx;
      for (size_t i = 0; i < n; ++i) {
        // Exactly the per-line work of `wcoord apply`'s reading loop.
        auto item = std::make_shared<work_item>();
        item->ticket = i;
        ctx.record_timestamp = wall_clock_ms();
        auto r = parser.parse(w.line(i), ctx);
        item->m = std::move(r.value);
        item->invalid = std::move(r.invalid);
        item->parsed = r.parsed;
        item->has_id = r.has_id;
        if (gate->in_flight() >= o.window)
          feed.flush();
        gate->acquire();
        submitted[i] = now_ns();
        feed.submit(std::move(item));
      }
      feed.flush();
    }
    gate->wait_idle();
    out.seconds = std::chrono::duration<double>(steady::now() - start).count();
    out.timed_cpu = process_cpu_seconds() - cpu0;
    wcoord_bench_timed_end();
    out.count = n;
    out.activations = engine.counters()->activations.load();
    out.passivations = engine.counters()->passivations.load();
    for (size_t k = 0; k < segment_ends.size(); ++k) {
      // An empty segment ends where the one before it did.
      int64_t last = k ? static_cast<int64_t>(out.segment_done_s[k - 1] * 1e9) : 0;
      for (size_t t = k ? segment_ends[k - 1] : 0; t < std::min(n, segment_ends[k]); ++t)
        if (latency[t] >= 0)
          last = std::max(last, submitted[t] + latency[t] - start_ns);
      out.segment_done_s[k] = static_cast<double>(last) / 1e9;
    }
    teardown_start = steady::now();
    engine.stop();
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  } // the actor system waits for every actor here
  out.teardown_seconds =
    std::chrono::duration<double>(steady::now() - teardown_start).count();
  store.reset(); // closes RocksDB before the parent removes its directory
  out.outcomes = outcomes;
  std::vector<int64_t> lat;
  lat.reserve(n);
  for (auto v : latency)
    if (v >= 0)
      lat.push_back(v);
  out.p50_ms = percentile_ms(lat, 0.50);
  out.p99_ms = percentile_ms(lat, 0.99);
  out.max_ms = percentile_ms(lat, 1.0);
  out.ok = lat.size() == n;
  if (!out.ok)
    std::snprintf(out.error, sizeof out.error, "%zu of %zu effects arrived",
                  lat.size(), n);
}

// ----------------------------------------------------------------- report --

double mb(uint64_t kb) {
  return static_cast<double>(kb) / 1024.0;
}

void print_row(const char* name, const pass_result& r, double ceiling) {
  if (!r.ok) {
    std::printf("%-15s  FAILED: %s\n", name, r.error);
    return;
  }
  const double rate = static_cast<double>(r.count) / r.seconds;
  char p50[32] = "-", p99[32] = "-";
  if (r.p50_ms >= 0) {
    std::snprintf(p50, sizeof p50, "%.1f", r.p50_ms);
    std::snprintf(p99, sizeof p99, "%.1f", r.p99_ms);
  }
  char busy[64] = "";
  if (r.others_busy > 0.05)
    std::snprintf(busy, sizeof busy, "  (!) other processes used %.0f%% of the CPU",
                  100 * r.others_busy);
  std::printf("%-15s %12.0f %7.2f %8s %8s %12.0f %9.0f %6.2f %7.2f%s\n", name,
              rate, ceiling > 0 ? rate / ceiling : 0.0, p50, p99, mb(r.peak_rss_kb),
              mb(r.peak_rss_kb) - mb(r.base_rss_kb), r.timed_cpu / r.seconds,
              1e6 * r.timed_cpu / static_cast<double>(std::max<uint64_t>(1, r.count)),
              busy);
}

/// Runs `body` in a child with a fresh RocksDB directory under `base`,
/// removed afterwards.
pass_result in_fresh_rocksdb(
  const fs::path& base,
  const std::function<void(const std::string&, pass_result&)>& body) {
  std::error_code ec;
  fs::create_directories(base, ec);
  std::string tmpl = (base / "wcoord-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    pass_result failed;
    std::snprintf(failed.error, sizeof failed.error, "mkdtemp %s: %s",
                  tmpl.c_str(), std::strerror(errno));
    return failed;
  }
  const std::string dir = tmpl;
  auto r = run_in_child([&](pass_result& r) { body(dir + "/db", r); });
  fs::remove_all(dir, ec);
  return r;
}

// ------------------------------------------------------------------ churn --

/// `--churn`: the passivation benchmark. The same round-robin workload runs
/// through each store twice, with the entity limit and unbounded (no
/// passivation at all: the baseline), and the rates of its three parts are
/// compared: before the limit is reached (every line activates a new
/// document), after it on new ids (every line also evicts one), and the
/// later rounds (every line re-activates a passivated document, which loads
/// it from the store, and evicts another).
int run_churn(options o, size_t threads) {
  if (!o.ids_given)
    o.ids = 1000000;
  if (!o.mutations_given)
    o.mutations = 2 * o.ids;
  const unsigned cores = std::thread::hardware_concurrency();
  const auto gen_start = steady::now();
  const auto w = bench::generate_churn_workload(o.mutations, o.ids, o.seed, wall_clock_ms());
  const size_t n = w.size();
  const size_t limit = o.entity_limit;
  std::printf("wcoord engine bench --churn: %zu mutations over %zu ids visited "
              "round-robin, entity limit %zu (%zu per shard), seed %llu, %u cores, "
              "%zu shards, %zu scheduler threads, window %zu\n",
              n, o.ids, limit, std::max<size_t>(1, limit / o.shards),
              static_cast<unsigned long long>(o.seed), cores, o.shards, threads,
              o.window);
  std::printf("input: %.1f MB in memory, generated in %.1fs\n",
              static_cast<double>(w.bytes.size()) / (1 << 20),
              std::chrono::duration<double>(steady::now() - gen_start).count());
  if (limit >= o.ids)
    std::printf("note: the limit is not below --ids: nothing is evicted\n");
  const std::array<size_t, 3> ends{std::min(limit, n), std::min(std::max(limit, o.ids), n), n};
  const fs::path state_base =
    o.state_dir.empty() ? fs::temp_directory_path() : fs::path(o.state_dir);
  std::vector<std::string> spreads;
  auto median = [&](const std::string& name, const std::function<pass_result()>& once) {
    std::vector<pass_result> all;
    for (size_t i = 0; i < o.runs; ++i) {
      all.push_back(once());
      if (!all.back().ok)
        return all.back();
    }
    auto rate = [](const pass_result& r) { return static_cast<double>(r.count) / r.seconds; };
    std::sort(all.begin(), all.end(),
              [&](const pass_result& a, const pass_result& b) { return rate(a) < rate(b); });
    if (all.size() > 1) {
      std::string line = name + ":";
      for (const auto& r : all)
        line += " " + std::to_string(static_cast<long long>(rate(r)));
      spreads.push_back(line);
    }
    return all[all.size() / 2];
  };
  auto pass = [&](bool rocksdb, size_t entity_limit) {
    auto body = [&, entity_limit](const std::string& db, pass_result& r) {
      engine_pass(w, o, db, r, entity_limit, ends);
    };
    if (rocksdb)
      return in_fresh_rocksdb(state_base, body);
    return run_in_child([&](pass_result& r) { body("", r); });
  };
  // Per segment: mutations / seconds between the end of the previous one
  // and the end of this one.
  auto segment_rate = [&](const pass_result& r, size_t from, size_t to) {
    const size_t lo = from ? ends[from - 1] : 0;
    const double t0 = from ? r.segment_done_s[from - 1] : 0.0;
    const double secs = r.segment_done_s[to] - t0;
    return ends[to] > lo && secs > 0 ? static_cast<double>(ends[to] - lo) / secs : 0.0;
  };
  struct row {
    std::string name;
    pass_result r;
  };
  std::vector<std::pair<row, row>> rows; // {unbounded, limited} per store
  std::vector<const pass_result*> decided;
  for (bool rocksdb : {false, true}) {
    if ((rocksdb && !o.rocksdb) || (!rocksdb && !o.memory))
      continue;
    const std::string store = rocksdb ? "rocksdb" : "memory";
    row base{store + "/unbounded", median(store + "/unbounded", [&] {
               return pass(rocksdb, std::numeric_limits<size_t>::max());
             })};
    row lim{store + "/limit", median(store + "/limit", [&] { return pass(rocksdb, limit); })};
    rows.emplace_back(std::move(base), std::move(lim));
  }
  std::printf("\n%-18s %10s %10s %10s %10s %10s %8s %9s %11s %11s\n", "pass", "all/s",
              "before/s", "after/s", "new ids/s", "reactiv./s", "RSS MB", "teardown",
              "activations", "passivated");
  auto print = [&](const row& x) {
    const auto& r = x.r;
    if (!r.ok) {
      std::printf("%-18s FAILED: %s\n", x.name.c_str(), r.error);
      return;
    }
    std::printf("%-18s %10.0f %10.0f %10.0f %10.0f %10.0f %8.0f %8.1fs %11llu %11llu\n",
                x.name.c_str(), static_cast<double>(r.count) / r.seconds,
                segment_rate(r, 0, 0), segment_rate(r, 1, 2), segment_rate(r, 1, 1),
                segment_rate(r, 2, 2), mb(r.peak_rss_kb), r.teardown_seconds,
                static_cast<unsigned long long>(r.activations),
                static_cast<unsigned long long>(r.passivations));
  };
  std::vector<std::string> verdicts;
  for (const auto& [base, lim] : rows) {
    print(base);
    print(lim);
    if (!base.r.ok || !lim.r.ok)
      continue;
    decided.push_back(&base.r);
    decided.push_back(&lim.r);
    auto ratio = [&](size_t from, size_t to) {
      const double b = segment_rate(base.r, from, to);
      return b > 0 ? segment_rate(lim.r, from, to) / b : 0.0;
    };
    const double all = (static_cast<double>(lim.r.count) / lim.r.seconds)
                       / (static_cast<double>(base.r.count) / base.r.seconds);
    std::printf("%-18s %10.2f %10.2f %10.2f %10.2f %10.2f\n",
                ("  ratio " + lim.name.substr(0, lim.name.find('/'))).c_str(), all,
                ratio(0, 0), ratio(1, 2), ratio(1, 1), ratio(2, 2));
    char line[256];
    std::snprintf(line, sizeof line,
                  "%-8s after the limit %.2f of the unbounded rate (%.0f/s vs %.0f/s), "
                  "before it %.2f",
                  lim.name.substr(0, lim.name.find('/')).c_str(), ratio(1, 2),
                  segment_rate(lim.r, 1, 2), segment_rate(base.r, 1, 2), ratio(0, 0));
    verdicts.emplace_back(line);
  }
  std::printf("\nbefore: the first %zu lines (the limit: no eviction yet); after: the "
              "other %zu,\nof which new ids: lines %zu-%zu (activate one, evict one), "
              "reactiv.: later rounds\n(load a passivated document from the store, evict "
              "one). ratio: limit / unbounded.\nteardown: engine.stop() and "
              "~actor_system with every live actor.\n",
              ends[0], n - ends[0], ends[0], ends[1]);
  if (!spreads.empty()) {
    std::printf("median of %zu runs; all runs, mutations/s:\n", o.runs);
    for (const auto& sp : spreads)
      std::printf("  %s\n", sp.c_str());
  }
  if (!decided.empty()) {
    const auto& a = decided.front()->outcomes;
    bool same = true;
    for (const auto* r : decided)
      same = same && r->outcomes == a;
    std::printf("decisions: applied %llu, stale %llu, conflict %llu, invalid %llu; "
                "identical across the %zu passes (state intact across "
                "passivations): %s\n",
                static_cast<unsigned long long>(a[static_cast<size_t>(outcome::applied)]),
                static_cast<unsigned long long>(a[static_cast<size_t>(outcome::stale)]),
                static_cast<unsigned long long>(a[static_cast<size_t>(outcome::conflict)]),
                static_cast<unsigned long long>(a[static_cast<size_t>(outcome::invalid)]),
                decided.size(), same ? "yes" : "NO");
    if (!same)
      return 1;
  }
  std::printf("\n");
  for (const auto& v : verdicts)
    std::printf("%s\n", v.c_str());
  bool ok = true;
  for (const auto& [base, lim] : rows)
    ok = ok && base.r.ok && lim.r.ok;
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  std::string store = "both";
  command_line cl(argc - 1, argv + 1);
  auto size_flag = [&](const char* name, size_t& out, bool allow_zero = false) {
    auto v = cl.value(name);
    if (!v)
      return 0;
    if (!parse_size(*v, out) || (!allow_zero && out == 0))
      return -1;
    return 1;
  };
  while (cl.more()) {
    int r = 0;
    if (cl.flag("-h", "--help")) {
      std::cout << usage;
      return 0;
    }
    size_t seed = o.seed;
    if ((r = size_flag("--mutations", o.mutations))) {
      if (r < 0)
        return cl.fail("invalid number in the arguments");
      o.mutations_given = true;
      continue;
    }
    if ((r = size_flag("--ids", o.ids))) {
      if (r < 0)
        return cl.fail("invalid number in the arguments");
      o.ids_given = true;
      continue;
    }
    if ((r = size_flag("--window", o.window)) || (r = size_flag("--entity-limit", o.entity_limit)) || (r = size_flag("--shards", o.shards))
        || (r = size_flag("--threads", o.threads)) || (r = size_flag("--batch", o.batch))
        || (r = size_flag("--runs", o.runs))
        || (r = size_flag("--seed", seed, true))) {
      if (r < 0)
        return cl.fail("invalid number in the arguments");
      o.seed = seed;
      continue;
    }
    if (auto v = cl.value("--store")) {
      store = *v;
      if (store != "memory" && store != "rocksdb" && store != "both")
        return cl.fail("--store must be memory, rocksdb or both");
      o.memory = store != "rocksdb";
      o.rocksdb = store != "memory";
    } else if (cl.flag("--churn")) {
      o.churn = true;
    } else if (cl.flag("--no-reference")) {
      o.reference = false;
    } else if (auto v = cl.value("--state-dir")) {
      o.state_dir = *v;
    } else if (auto v = cl.value("--caf")) {
      auto eq = v->find('=');
      if (eq == std::string::npos || eq == 0)
        return cl.fail("--caf needs KEY=VALUE");
      o.caf.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else {
      return cl.fail_unknown(usage);
    }
  }
  const unsigned cores = std::thread::hardware_concurrency();
  const size_t threads = o.threads ? o.threads : std::max(2u, cores);
  if (o.churn)
    return run_churn(o, threads);

  // ------------------------------------------------------------- input --
  const auto gen_start = steady::now();
  const auto w = bench::generate_workload(o.mutations, o.ids, o.seed, wall_clock_ms());
  const double gen_secs =
    std::chrono::duration<double>(steady::now() - gen_start).count();
  std::printf("wcoord engine bench: %zu mutations over %zu ids, seed %llu, "
              "%u cores, %zu shards, %zu scheduler threads, window %zu, batch %zu\n",
              w.size(), o.ids, static_cast<unsigned long long>(o.seed), cores,
              o.shards, threads, o.window, o.batch);
  std::printf("input: %.1f MB in memory, %.0f B/line, docs %.0f B on average "
              "(100-300), generated in %.1fs\n",
              static_cast<double>(w.bytes.size()) / (1 << 20),
              w.size() ? static_cast<double>(w.bytes.size()) / static_cast<double>(w.size()) : 0.0,
              w.docs ? static_cast<double>(w.doc_bytes) / static_cast<double>(w.docs) : 0.0,
              gen_secs);
  std::printf("mix:");
  for (size_t k = 0; k < w.by_kind.size(); ++k)
    std::printf("%s %s %.1f%%", k ? "," : "", bench::to_string(static_cast<bench::gen_kind>(k)),
                100.0 * static_cast<double>(w.by_kind[k]) / static_cast<double>(std::max<size_t>(1, w.size())));
  std::printf("\n     external deliveries not newer than one already seen: %llu (%.1f%% of all lines)\n\n",
              static_cast<unsigned long long>(w.out_of_order),
              100.0 * static_cast<double>(w.out_of_order) / static_cast<double>(std::max<size_t>(1, w.size())));

  // ------------------------------------------------------------ passes --
  // Each pass `runs` times; the row shows the median run by throughput, the
  // spread is printed below the table.
  std::vector<std::string> spreads;
  auto repeat = [&](const char* name,
                    const std::function<pass_result()>& once) -> pass_result {
    std::vector<pass_result> all;
    for (size_t i = 0; i < o.runs; ++i) {
      all.push_back(once());
      if (!all.back().ok)
        return all.back();
    }
    auto rate = [](const pass_result& r) { return static_cast<double>(r.count) / r.seconds; };
    std::sort(all.begin(), all.end(),
              [&](const pass_result& a, const pass_result& b) { return rate(a) < rate(b); });
    if (all.size() > 1) {
      std::string line = std::string(name) + ":";
      for (const auto& r : all)
        line += " " + std::to_string(static_cast<long long>(rate(r)));
      spreads.push_back(line);
    }
    return all[all.size() / 2];
  };
  auto parse = repeat("parse-only", [&] {
    return run_in_child([&](pass_result& r) { parse_only(w, r); });
  });
  // RocksDB passes get a fresh directory each, removed afterwards.
  const fs::path state_base =
    o.state_dir.empty() ? fs::temp_directory_path() : fs::path(o.state_dir);
  auto with_rocksdb = [&](const std::function<void(const std::string&, pass_result&)>& body) {
    return in_fresh_rocksdb(state_base, body);
  };
  std::optional<pass_result> mem, rdb, inline_mem, inline_rdb;
  if (o.memory)
    mem = repeat("engine/memory", [&] {
      return run_in_child([&](pass_result& r) { engine_pass(w, o, "", r, o.entity_limit); });
    });
  if (o.rocksdb)
    rdb = repeat("engine/rocksdb", [&] {
      return with_rocksdb([&](const std::string& db, pass_result& r) { engine_pass(w, o, db, r, o.entity_limit); });
    });
  if (o.reference && o.memory)
    inline_mem = repeat("inline/memory", [&] {
      return run_in_child([&](pass_result& r) { inline_pass(w, "", r); });
    });
  if (o.reference && o.rocksdb)
    inline_rdb = repeat("inline/rocksdb", [&] {
      return with_rocksdb([&](const std::string& db, pass_result& r) { inline_pass(w, db, r); });
    });

  // ------------------------------------------------------------ report --
  const double ceiling = parse.ok ? static_cast<double>(parse.count) / parse.seconds : 0;
  std::printf("%-15s %12s %7s %8s %8s %12s %9s %6s %7s\n", "pass", "mutations/s",
              "ratio", "p50 ms", "p99 ms", "peak RSS MB", "+pass MB", "cores",
              "cpu us");
  print_row("parse-only", parse, ceiling);
  if (mem)
    print_row("engine/memory", *mem, ceiling);
  if (rdb)
    print_row("engine/rocksdb", *rdb, ceiling);
  if (inline_mem || inline_rdb)
    std::printf("reference, not a goal: the same rules and stores on one thread, no actors\n");
  if (inline_mem)
    print_row("inline/memory", *inline_mem, ceiling);
  if (inline_rdb)
    print_row("inline/rocksdb", *inline_rdb, ceiling);
  std::printf("\npeak RSS: VmHWM of the pass's child process (the %.0f MB input, "
              "shared from the parent, included);\n+pass MB: growth over the RSS "
              "the child started with%s.\n",
              static_cast<double>(w.bytes.size() + w.offsets.size() * 8) / (1 << 20),
              parse.peak_was_reset ? "" : " (VmHWM could not be reset: peak includes the parent's)");
  std::printf("cores: CPU time / wall time of the timed part; cpu us: CPU time per mutation.\n");
  if (!spreads.empty()) {
    std::printf("median of %zu runs; all runs, mutations/s:\n", o.runs);
    for (const auto& s : spreads)
      std::printf("  %s\n", s.c_str());
  }

  const std::pair<const char*, const std::optional<pass_result>*> runs[] = {
    {"memory ", &mem}, {"rocksdb", &rdb}};
  for (const auto& [name, opt] : runs) {
    if (!*opt || !(*opt)->ok)
      continue;
    const pass_result* r = &**opt;
    const double total = static_cast<double>(std::max<uint64_t>(1, r->count));
    auto pct = [&](outcome k) {
      return 100.0 * static_cast<double>(r->outcomes[static_cast<size_t>(k)]) / total;
    };
    std::printf("%s decisions: applied %.1f%%, stale %.1f%%, conflict %.1f%%, "
                "invalid %.1f%%; max latency %.1f ms; document actors "
                "activated %llu, passivated %llu\n",
                name, pct(outcome::applied),
                pct(outcome::stale), pct(outcome::conflict), pct(outcome::invalid),
                r->max_ms, static_cast<unsigned long long>(r->activations),
                static_cast<unsigned long long>(r->passivations));
  }
  {
    // Per document, every pass decides in input order: the outcome counts
    // must be the same whatever the store or the threading.
    std::vector<const pass_result*> decided;
    for (const auto* r : {&mem, &rdb, &inline_mem, &inline_rdb})
      if (*r && (*r)->ok)
        decided.push_back(&**r);
    if (decided.size() > 1) {
      bool same = true;
      for (const auto* r : decided)
        same = same && r->outcomes == decided.front()->outcomes;
      std::printf("decisions identical across the %zu engine/inline passes: %s\n",
                  decided.size(), same ? "yes" : "NO");
    }
  }
  if (parse.ok && mem && mem->ok
      && parse.outcomes[static_cast<size_t>(outcome::invalid)]
           != mem->outcomes[static_cast<size_t>(outcome::invalid)])
    std::printf("WARNING: parse-only found %llu invalid lines, the engine %llu\n",
                static_cast<unsigned long long>(parse.outcomes[static_cast<size_t>(outcome::invalid)]),
                static_cast<unsigned long long>(mem->outcomes[static_cast<size_t>(outcome::invalid)]));

  std::printf("\ngoal: memory >= 0.40 of parse-only, rocksdb >= 0.20\n");
  auto verdict = [&](const char* name, const std::optional<pass_result>& r, double goal) {
    if (!r)
      return;
    if (!r->ok || !parse.ok) {
      std::printf("  %-8s FAILED\n", name);
      return;
    }
    const double ratio = static_cast<double>(r->count) / r->seconds / ceiling;
    std::printf("  %-8s %.2f  %s\n", name, ratio, ratio >= goal ? "meets the goal" : "BELOW the goal");
  };
  verdict("memory", mem, 0.40);
  verdict("rocksdb", rdb, 0.20);
  bool ok = parse.ok && (!mem || mem->ok) && (!rdb || rdb->ok);
  return ok ? 0 : 1;
}

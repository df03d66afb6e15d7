#include "app/apply_command.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "actors/pipeline.hpp"
#include "app/actor_system_setup.hpp"
#include "app/answer_writer.hpp"
#include "app/command_line.hpp"
#include "app/line_reader.hpp"
#include "engine/duration.hpp"
#include "engine/index_name.hpp"
#include "engine/mutation_parser.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

constexpr const char* usage = R"(usage: wcoord apply [options] < mutations.jsonl > answers.jsonl

Decides mutations (one JSON object per line) with Elasticsearch's versioning
rules and writes one bulk-style answer per line, in input order. Blank lines
are skipped.

options:
  --state-dir DIR          keep state in RocksDB at DIR (default: in memory);
                           a second run continues from the first's state
  --gc-deletes DURATION    how long tombstones are honoured (default 24h)
  --default-index NAME     index for mutations without one (default "default")
  --max-record-bytes N     longer lines are invalid (default 1048576)
  --window N               mutations in flight at once (default 8192)
  --quiet                  no progress line and no summary on stderr
  -h, --help               this text
)";

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

} // namespace

int apply_command(int argc, char** argv) {
  std::string state_dir;
  std::string default_index = "default";
  int64_t gc_deletes_ms = 24 * 3600 * 1000LL;
  size_t max_record_bytes = 1 << 20;
  // Enough to keep both cores busy; more only adds queueing latency and
  // memory (bench/engine_bench: same throughput, p50 ~30 ms instead of
  // ~400 ms at 65536).
  size_t window = 8192;
  bool quiet = false;
  command_line cl(argc, argv);
  while (cl.more()) {
    if (cl.flag("-h", "--help")) {
      std::cout << usage;
      return 0;
    } else if (auto v = cl.value("--state-dir")) {
      state_dir = *v;
    } else if (auto v = cl.value("--default-index")) {
      if (auto why = invalid_index_name_reason(*v); why || v->empty())
        return cl.fail("invalid --default-index: " + (why ? *why : std::string("empty")));
      default_index = *v;
    } else if (auto v = cl.value("--gc-deletes")) {
      auto d = parse_duration(*v);
      if (!d)
        return cl.fail("invalid duration for --gc-deletes: " + *v
                       + " (use e.g. 500ms, 60s, 5m, 24h)");
      gc_deletes_ms = d->count();
    } else if (auto v = cl.value("--max-record-bytes")) {
      if (!parse_size(*v, max_record_bytes) || max_record_bytes == 0)
        return cl.fail("invalid --max-record-bytes: " + *v);
    } else if (auto v = cl.value("--window")) {
      if (!parse_size(*v, window) || window == 0)
        return cl.fail("invalid --window: " + *v);
    } else if (cl.flag("--quiet")) {
      quiet = true;
    } else {
      return cl.fail_unknown(usage);
    }
  }

  std::shared_ptr<document_store> store;
  try {
    if (state_dir.empty()) {
      store = make_memory_store();
    } else {
      rocksdb_options ro;
      ro.path = state_dir;
      ro.gc_deletes_ms = gc_deletes_ms;
      store = make_rocksdb_store(ro);
    }
  } catch (const std::exception& e) {
    std::cerr << "wcoord apply: cannot open the store: " << e.what() << "\n";
    return 2;
  }

  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  auto gate = std::make_shared<credit_gate>(window);
  auto counts = std::make_shared<answer_counts>();
  auto writer = spawn_answer_writer(sys, stdout, window, gate, counts);
  pipeline_options popts;
  popts.gc_deletes_ms = gc_deletes_ms;
  popts.shards = std::max(2u, std::thread::hardware_concurrency());
  // One Elasticsearch shard per index: `_seq_no` dense from 0 in input
  // order, continuing what the state directory numbered before.
  try {
    popts.sequence_by_index = store->next_seq_nos();
  } catch (const std::exception& e) {
    std::cerr << "wcoord apply: cannot read the store: " << e.what() << "\n";
    return 2;
  }
  pipeline engine{sys, store, writer, popts};

  // Progress on stderr only for a human watching a terminal.
  std::atomic<bool> reading{true};
  std::atomic<uint64_t> read_count{0};
  const auto start = std::chrono::steady_clock::now();
  std::thread progress;
  if (!quiet && isatty(STDERR_FILENO)) {
    progress = std::thread([&] {
      while (reading.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        double secs = std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                        .count();
        auto done = counts->written.load();
        std::fprintf(stderr, "\r\033[Kread %llu, answered %llu (%.0f/s)",
                     static_cast<unsigned long long>(read_count.load()),
                     static_cast<unsigned long long>(done),
                     secs > 0 ? done / secs : 0.0);
      }
      std::fprintf(stderr, "\r\033[K");
    });
  }

  {
    mutation_parser parser;
    submitter feed{engine};
    line_reader reader{stdin, max_record_bytes};
    std::string_view line;
    bool oversized = false;
    size_t length = 0;
    uint64_t ticket = 0;
    record_context ctx;
    ctx.default_index = default_index;
    ctx.max_bytes = max_record_bytes;
    while (reader.next(line, oversized, length)) {
      if (!oversized && blank(line))
        continue;
      auto w = std::make_shared<work_item>();
      w->ticket = ticket++;
      ctx.record_timestamp = wall_clock_ms();
      if (oversized) {
        w->parsed = false;
        w->invalid = invalid_decision(
          "parse_exception", "record of " + std::to_string(length)
                               + " bytes exceeds the limit of "
                               + std::to_string(max_record_bytes) + " bytes");
      } else {
        auto r = parser.parse(line, ctx);
        w->m = std::move(r.value);
        w->invalid = std::move(r.invalid);
        w->parsed = r.parsed;
        w->has_id = r.has_id;
      }
      // Wait for a free slot only when the window is full; then make sure
      // the partial batches are on their way, or the wait would never end.
      if (gate->in_flight() >= window)
        feed.flush();
      gate->acquire();
      feed.submit(std::move(w));
      read_count.fetch_add(1, std::memory_order_relaxed);
    }
    feed.flush();
  }
  gate->wait_idle();
  reading = false;
  if (progress.joinable())
    progress.join();
  std::fflush(stdout);
  engine.stop();
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);

  if (!quiet) {
    double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    auto total = counts->written.load();
    auto n = [&](outcome o) {
      return static_cast<unsigned long long>(
        counts->by_outcome[static_cast<size_t>(o)].load());
    };
    std::fprintf(stderr,
                 "wcoord apply: %llu mutations in %.2fs (%.0f/s)\n"
                 "  applied  %llu  (written to the store)\n"
                 "  stale    %llu  (an equal or newer external version won)\n"
                 "  conflict %llu  (expected version differs, or create on "
                 "an existing document)\n"
                 "  invalid  %llu  (rejected with a 400)\n"
                 "  state: %s\n",
                 static_cast<unsigned long long>(total), secs,
                 secs > 0 ? total / secs : 0.0, n(outcome::applied),
                 n(outcome::stale), n(outcome::conflict), n(outcome::invalid),
                 state_dir.empty() ? "in memory (gone at exit)"
                                   : ("RocksDB at " + state_dir).c_str());
  }
  return 0;
}

} // namespace wcoord

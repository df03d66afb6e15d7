#include "app/demo_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <filesystem>
#include <iostream>
#include <thread>

#include "app/command_line.hpp"
#include "app/coordinator.hpp"
#include "app/demo_writers.hpp"
#include "app/signals.hpp"
#include "kafka/group_lag.hpp"
#include "kafka/producer.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

constexpr const char* usage = R"(usage: wcoord demo [--customers N] [--state-dir DIR] [--keep-running]

Runs the coordinator on embedded defaults (in-process Kafka, RocksDB in a
temporary directory) while several writers race on the same documents,
shows live progress, and ends with a summary of what was decided and where
the outputs are. --keep-running leaves the coordinator up afterwards (for
kcat and friends) until Ctrl-C.
)";

using clock_type = std::chrono::steady_clock;

int64_t total_decided(const coordinator& c) {
  int64_t n = 0;
  for (size_t o = 0; o < 4; ++o)
    n += static_cast<int64_t>(c.decisions().total(o));
  return n;
}

/// Records produced but not yet committed, over all input partitions.
int64_t lag(const coordinator& c, rd_kafka_t* client, const std::string& topic,
            int partitions) {
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(client, topic.c_str(), p, &lo, &hi, 5000))
      return -1;
    auto pr = c.tracker().progress({topic, p});
    int64_t committed = pr && pr->committable >= 0 ? pr->committable : lo;
    total += hi - committed;
  }
  return total;
}

} // namespace

int demo_command(int argc, char** argv) {
  int customers = 2000;
  std::string state_dir;
  bool keep_running = false;
  command_line cl(argc, argv);
  while (cl.more()) {
    if (cl.flag("-h", "--help")) {
      std::cout << usage;
      return 0;
    } else if (auto v = cl.value("--customers")) {
      size_t n;
      if (!parse_size(*v, n) || n < 20 || n > 1000000)
        return cl.fail("--customers expects 20..1000000");
      customers = static_cast<int>(n);
    } else if (auto v = cl.value("--state-dir")) {
      state_dir = *v;
    } else if (cl.flag("--keep-running")) {
      keep_running = true;
    } else {
      return cl.fail_unknown(usage);
    }
  }
  namespace fs = std::filesystem;
  bool temp_state = state_dir.empty();
  if (temp_state) {
    std::string tmpl = (fs::temp_directory_path() / "wcoord-demo-XXXXXX").string();
    state_dir = mkdtemp(tmpl.data());
  }
  // The demo's own narration goes to stdout; service logs stay quiet.
  setup_logging(log_format::text, spdlog::level::warn);

  service_config cfg;
  cfg.group_id = "wcoord-demo";
  cfg.topics = {"mutations"};
  cfg.state_dir = state_dir;
  cfg.commit_interval = std::chrono::milliseconds(200);
  cfg.on_stale = "ignore";
  block_termination_signals();
  auto writers = demo::make_writers(customers, 42);
  size_t total = 0;
  for (auto& w : writers)
    total += w.records.size();

  std::printf("wcoord demo: %zu writers race on %d customers and %d carts\n",
              writers.size(), customers, customers / 4);
  for (auto& w : writers)
    std::printf("  %-13s %6zu records  %s\n", w.name.c_str(), w.records.size(),
                w.what.c_str());
  std::fflush(stdout);

  int rc = 0;
  {
    coordinator service{cfg};
    if (auto err = service.start()) {
      std::fprintf(stderr, "wcoord demo: cannot start: %s\n", err->c_str());
      return 1;
    }
    std::printf("embedded Kafka at %s, topic %s (%d partitions), state in %s\n\n",
                service.bootstrap_servers().c_str(), cfg.topics[0].c_str(),
                cfg.embedded_partitions, state_dir.c_str());
    std::fflush(stdout);
    const auto start = clock_type::now();
    std::atomic<uint64_t> produced{0}, failed{0};
    std::map<std::string, std::string> props{
      {"bootstrap.servers", service.bootstrap_servers()}};
    kafka::producer probe{props, [](std::vector<kafka::delivery>&&) {}};
    std::vector<std::thread> threads;
    for (auto& w : writers) {
      threads.emplace_back([&, &w = w] {
        kafka::producer out{props, [&](std::vector<kafka::delivery>&& ds) {
                              for (auto& d : ds)
                                (d.error ? failed : produced).fetch_add(1);
                            }};
        for (auto& [key, value] : w.records) {
          kafka::outgoing_record r;
          r.topic = cfg.topics[0];
          r.key = key;
          r.value = value;
          if (out.send(r))
            failed.fetch_add(1);
        }
        out.flush(std::chrono::seconds(60));
      });
    }
    const bool tty = isatty(STDOUT_FILENO);
    // Rates count from the first record taken off Kafka to the last decision:
    // joining the group takes seconds that say nothing about the speed.
    std::optional<clock_type::time_point> done_at;
    auto deciding_secs = [&] {
      int64_t first = service.status().first_record_ms.load();
      if (first == 0)
        return 0.0;
      auto end = done_at ? *done_at : clock_type::now();
      return std::chrono::duration<double>(end.time_since_epoch()).count() - first / 1000.0;
    };
    auto show = [&](bool final_line) {
      double secs = deciding_secs();
      auto& d = service.decisions();
      std::printf("%sproduced %6llu/%zu  decided %6lld  applied %6llu  stale %6llu  "
                  "conflict %5llu  invalid %4llu  %7.0f/s%s",
                  tty ? "\r\033[K" : "", static_cast<unsigned long long>(produced.load()),
                  total, static_cast<long long>(total_decided(service)),
                  static_cast<unsigned long long>(d.total(0)),
                  static_cast<unsigned long long>(d.total(1)),
                  static_cast<unsigned long long>(d.total(2)),
                  static_cast<unsigned long long>(d.total(3)),
                  secs > 0 ? total_decided(service) / secs : 0.0,
                  tty && !final_line ? "" : "\n");
      std::fflush(stdout);
    };
    auto deadline = start + std::chrono::minutes(5);
    int sig = 0;
    auto next_show = clock_type::now();
    while (sig == 0 && clock_type::now() < deadline) {
      sig = wait_for_termination(std::chrono::milliseconds(20));
      if (!done_at && total_decided(service) >= static_cast<int64_t>(total))
        done_at = clock_type::now();
      if (clock_type::now() >= next_show) {
        show(false);
        next_show = clock_type::now() + std::chrono::milliseconds(tty ? 200 : 1000);
      }
      if (done_at && produced.load() + failed.load() >= total
          && lag(service, probe.handle(), cfg.topics[0], cfg.embedded_partitions) == 0)
        break;
    }
    for (auto& t : threads)
      t.join();
    show(true);
    double secs = deciding_secs();
    int64_t first = service.status().first_record_ms.load();
    double join_secs = first == 0 ? 0.0
                                  : first / 1000.0
                                      - std::chrono::duration<double>(start.time_since_epoch())
                                          .count();
    if (sig != 0)
      std::printf("interrupted\n");
    if (keep_running && sig == 0) {
      std::printf("\ncoordinator still running at %s; Ctrl-C to stop\n",
                  service.bootstrap_servers().c_str());
      std::fflush(stdout);
      while (wait_for_termination(std::chrono::milliseconds(500)) == 0) {
      }
    }
    exit_on_second_signal();
    service.drain();
    // Asked from the brokers, as any lag tool would: committed vs end offsets.
    int64_t final_lag = -1;
    if (auto per_partition = kafka::group_lag(props, cfg.group_id, cfg.topics[0])) {
      final_lag = 0;
      for (auto& [tp, n] : *per_partition)
        final_lag += n;
    }
    auto& d = service.decisions();
    auto& o = service.outputs();
    std::printf(
      "\nsummary: %zu mutations decided in %.2fs (%.0f/s) after %.1fs joining the group, "
      "final lag %lld\n"
      "  applied   %6llu  the store changed; one changelog record each\n"
      "  stale     %6llu  an equal or newer external version had already won "
      "(dropped, as Elasticsearch drops an old replica write)\n"
      "  conflict  %6llu  a lost race: expected version differs, or create on an "
      "existing document (dead-lettered as a 409)\n"
      "  invalid   %6llu  malformed or unacceptable records (dead-lettered as a 400)\n"
      "outputs:\n"
      "  changelog    topic %s: %llu records (compacted, partitioned like the input)\n"
      "  dead letters topic %s: %llu records (Kafka Connect error headers)\n"
      "  store        RocksDB in %s%s\n",
      total, secs, secs > 0 ? total / secs : 0.0, join_secs, static_cast<long long>(final_lag),
      static_cast<unsigned long long>(d.total(0)),
      static_cast<unsigned long long>(d.total(1)),
      static_cast<unsigned long long>(d.total(2)),
      static_cast<unsigned long long>(d.total(3)), cfg.changelog().c_str(),
      static_cast<unsigned long long>(o.changelog_produced.load()),
      cfg.deadletter().c_str(), static_cast<unsigned long long>(o.dlq_produced.load()),
      state_dir.c_str(), temp_state ? " (temporary, removed now)" : "");
    if (total_decided(service) != static_cast<int64_t>(total) || final_lag != 0
        || failed.load() > 0)
      rc = 1;
  }
  if (temp_state)
    fs::remove_all(state_dir);
  return rc;
}

} // namespace wcoord

#include "app/run_command.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/command_line.hpp"
#include "app/coordinator.hpp"
#include "app/http_server.hpp"
#include "app/signals.hpp"
#include "support/logging.hpp"

namespace wcoord {

namespace {

const std::string usage_head = R"(usage: wcoord run [--config FILE] [--set key=value]...

Consumes mutations from Kafka, decides them per document with
Elasticsearch's versioning rules, stores the results and publishes them to
the changelog and dead-letter topics. Settings come from FILE (key=value
lines), then WCOORD_* environment variables (WCOORD_GROUP_ID = group.id),
then --set. Without bootstrap.servers an embedded in-process Kafka cluster
starts on loopback and its address is printed.

configuration keys (default in the second column):
)";

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

int run_command(int argc, char** argv) {
  // First thing: a SIGTERM that arrives while we start must still mean
  // "drain and exit 0", not the default "die".
  block_termination_signals();
  config_sources src;
  command_line cl(argc, argv);
  while (cl.more()) {
    if (cl.flag("-h", "--help")) {
      std::cout << usage_head << config_help();
      return 0;
    } else if (auto v = cl.value("--config")) {
      src.file = *v;
    } else if (auto v = cl.value("--set")) {
      src.overrides.push_back(*v);
    } else {
      return cl.fail_unknown((usage_head + config_help()).c_str());
    }
  }
  service_config cfg;
  if (auto err = load_config(src, cfg)) {
    std::cerr << "wcoord run: " << *err << "\n";
    return 2;
  }
  setup_logging(cfg.log_format == "json" ? log_format::json : log_format::text,
                spdlog::level::from_str(cfg.log_level));
  auto log = module_logger("app");
  for (auto& line : describe_config(cfg))
    log->info("config {}", line);

  coordinator service{cfg};
  if (auto err = service.start()) {
    log->critical("cannot start: {}", *err);
    return 1;
  }
  std::unique_ptr<http_server> http;
  try {
    http = std::make_unique<http_server>(cfg.http_listen, service);
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    return 1;
  }
  log->info("http listening on {} (/metrics /healthz /readyz)", http->address());
  if (service.embedded()) {
    // Other programs produce to the embedded cluster at this address.
    std::cout << "embedded Kafka bootstrap servers: " << service.bootstrap_servers()
              << std::endl;
  }
  std::string topics = cfg.topics_regex.empty() ? "" : "/" + cfg.topics_regex + "/";
  for (auto& t : cfg.topics)
    topics += (topics.empty() ? "" : ",") + t;
  log->info("consuming {} as group {}", topics, cfg.group_id);
  int sig = 0;
  while (sig == 0) {
    sig = wait_for_termination(std::chrono::milliseconds(200));
    service.supervise();
    if (service.status().fatal) {
      log->critical("consumer stopped on a fatal error");
      return 1;
    }
  }
  log->info("signal {} received: draining (at most {} ms); a second signal exits at once",
            sig, cfg.shutdown_timeout.count());
  exit_on_second_signal();
  auto started = steady_ms();
  // shutdown.timeout bounds the whole exit: the drain gets most of it, and
  // whatever tears down after the durable point (leaving the group,
  // stopping actors, closing clients) is cut short when the bound is up.
  // Exiting then is safe: every committed offset is durable, anything else
  // is decided again by the next owner.
  std::thread([deadline = std::chrono::steady_clock::now() + cfg.shutdown_timeout, log] {
    std::this_thread::sleep_until(deadline);
    log->warn("shutdown.timeout reached: exiting without finishing the teardown");
    log->flush();
    std::_Exit(0);
  }).detach();
  bool clean = service.drain();
  log->info("drained in {} ms{}", steady_ms() - started,
            clean ? "" : " (some records left for replay)");
  return 0;
}

} // namespace wcoord

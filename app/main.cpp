// wcoord: a versioned write coordinator. One binary, several commands.

#include <cstring>
#include <iostream>
#include <string_view>

#include "app/apply_command.hpp"
#include "app/demo_command.hpp"
#include "app/produce_command.hpp"
#include "app/run_command.hpp"
#include "support/logging.hpp"

#ifndef WCOORD_VERSION
#define WCOORD_VERSION "dev"
#endif

namespace {

constexpr const char* usage = R"(usage: wcoord <command> [options]

Applies Elasticsearch's optimistic concurrency control to a stream of
document mutations.

commands:
  run       the coordinator: Kafka in, changelog and dead-letter topics out
  demo      the main job on embedded defaults: racing writers, live progress
  apply     decide JSON-lines mutations from stdin, answers on stdout
  produce   publish JSON-lines mutations to a topic, keyed by id
  --help    this text
  --version print the version

Run `wcoord <command> --help` for the options of a command.
)";

} // namespace

int main(int argc, char** argv) {
  wcoord::setup_logging(wcoord::log_format::text, spdlog::level::info);
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  std::string_view cmd = argv[1];
  int rc;
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << usage;
    rc = 0;
  } else if (cmd == "--version") {
    std::cout << "wcoord " << WCOORD_VERSION << "\n";
    rc = 0;
  } else if (cmd == "apply") {
    rc = wcoord::apply_command(argc - 2, argv + 2);
  } else if (cmd == "run") {
    rc = wcoord::run_command(argc - 2, argv + 2);
  } else if (cmd == "demo") {
    rc = wcoord::demo_command(argc - 2, argv + 2);
  } else if (cmd == "produce") {
    rc = wcoord::produce_command(argc - 2, argv + 2);
  } else {
    std::cerr << "wcoord: unknown command '" << cmd << "'\n\n" << usage;
    rc = 2;
  }
  spdlog::shutdown();
  return rc;
}

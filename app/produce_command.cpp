#include "app/produce_command.hpp"

#include <atomic>
#include <cstdio>
#include <iostream>

#include "app/command_line.hpp"
#include "app/line_reader.hpp"
#include "engine/mutation_parser.hpp"
#include "kafka/producer.hpp"

namespace wcoord {

namespace {

constexpr const char* usage = R"(usage: wcoord produce --bootstrap-servers HOST:PORT --topic TOPIC [--set kafka.key=value]... < mutations.jsonl

Publishes one record per input line, keyed by the mutation's id (lines
without a readable id are sent without a key, and will be dead-lettered by
the coordinator). Reports delivery failures; exit 1 if any record failed.
)";

} // namespace

int produce_command(int argc, char** argv) {
  std::string servers;
  std::string topic;
  std::map<std::string, std::string> props;
  command_line cl(argc, argv);
  while (cl.more()) {
    if (cl.flag("-h", "--help")) {
      std::cout << usage;
      return 0;
    } else if (auto v = cl.value("--bootstrap-servers")) {
      servers = *v;
    } else if (auto v = cl.value("--topic")) {
      topic = *v;
    } else if (auto v = cl.value("--set")) {
      auto eq = v->find('=');
      if (eq == std::string::npos || v->rfind("kafka.", 0) != 0)
        return cl.fail("--set expects kafka.<property>=value");
      props[v->substr(6, eq - 6)] = v->substr(eq + 1);
    } else {
      return cl.fail_unknown(usage);
    }
  }
  if (servers.empty() || topic.empty())
    return cl.fail(std::string("--bootstrap-servers and --topic are required\n\n") + usage);
  props["bootstrap.servers"] = servers;
  std::atomic<uint64_t> delivered{0}, failed{0};
  try {
    kafka::producer out{props, [&](std::vector<kafka::delivery>&& ds) {
                          for (auto& d : ds) {
                            if (d.error) {
                              if (failed.fetch_add(1) < 10)
                                std::cerr << "wcoord produce: record " << d.id << " failed: "
                                          << rd_kafka_err2str(d.error) << "\n";
                            } else {
                              delivered.fetch_add(1);
                            }
                          }
                        }};
    mutation_parser parser;
    line_reader reader{stdin, 64 << 20};
    std::string_view line;
    bool oversized;
    size_t length;
    uint64_t n = 0;
    while (reader.next(line, oversized, length)) {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos)
        continue;
      auto r = parser.parse(line, record_context{});
      kafka::outgoing_record rec;
      rec.topic = topic;
      rec.value = line;
      rec.id = n++;
      if (r.has_id && !r.value.id.empty())
        rec.key = r.value.id;
      if (auto err = out.send(rec)) {
        failed.fetch_add(1);
        std::cerr << "wcoord produce: line " << n << ": " << rd_kafka_err2str(err) << "\n";
      }
    }
    if (!out.flush(std::chrono::seconds(60)))
      std::cerr << "wcoord produce: " << out.outstanding() << " records not delivered\n";
    std::cerr << "wcoord produce: " << delivered.load() << " delivered, " << failed.load()
              << " failed\n";
    return failed.load() == 0 && delivered.load() == n ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "wcoord produce: " << e.what() << "\n";
    return 1;
  }
}

} // namespace wcoord

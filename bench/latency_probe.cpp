// End-to-end latency at a fixed offered rate, for bench/service_bench.py:
// produces input records at `--rate` per second for `--seconds`, and reads
// the contender's output topics as a read_committed consumer would. The
// latency of a record is the time from its produce() call (when librdkafka
// stamps its CreateTime) to the moment its output is visible to that
// consumer. Outputs name their input by two headers (wcoord's changelog:
// wcoord.source.partition/offset; dead letters: __connect.errors.*).
// `--output IN::` reads the input topic itself: Kafka's own latency.
//
//   latency_probe --bootstrap-servers HOST:PORT --topic IN --input FILE
//                 --rate N --seconds S [--warmup-seconds W]
//                 --output TOPIC:PARTITION_HEADER:OFFSET_HEADER ...
//
// FILE holds one record per line, `key<TAB>value` (an empty key is sent
// without one), cycled if the run needs more. Protocol on stdout, one JSON
// object per line: {"event":"produced",...} once everything was sent; then
// it waits for a line on stdin (the driver sends one when the contender has
// committed everything) and reads the outputs up to their end, then prints
// {"event":"result","inputs":…,"matched":…,"p50_ms":…,"p99_ms":…,
// "p999_ms":…,"max_ms":…,"offered":…}. Records sent in the first W seconds
// (start-up, JIT) are not counted.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kafka/handles.hpp"
#include "tool_args.hpp"

namespace {

using namespace wcoord::kafka;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "latency_probe: %s\n", what.c_str());
  std::exit(1);
}

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

struct output_spec {
  std::string topic, partition_header, offset_header;
};

struct options {
  std::string bootstrap, topic, input;
  double rate = 0;
  double seconds = 0;
  double warmup = 3;
  std::vector<output_spec> outputs;
};

options parse_args(int argc, char** argv) {
  bench::tool_args args("latency_probe",
                        "latency_probe --bootstrap-servers HOST:PORT --topic IN --input FILE "
                        "--rate N --seconds S [--warmup-seconds W] "
                        "--output TOPIC:PARTITION_HEADER:OFFSET_HEADER ...",
                        argc, argv,
                        {"--bootstrap-servers", "--topic", "--input", "--rate", "--seconds",
                         "--warmup-seconds", "--output"},
                        {});
  options o;
  o.bootstrap = args.get("--bootstrap-servers");
  o.topic = args.get("--topic");
  o.input = args.get("--input");
  o.rate = std::stod(args.get("--rate"));
  o.seconds = std::stod(args.get("--seconds"));
  o.warmup = std::stod(args.get("--warmup-seconds", "3"));
  for (auto& v : args.all("--output")) {
    auto c1 = v.find(':'), c2 = v.rfind(':');
    if (c1 == std::string::npos || c1 == c2)
      args.fail("--output wants TOPIC:PARTITION_HEADER:OFFSET_HEADER");
    o.outputs.push_back({v.substr(0, c1), v.substr(c1 + 1, c2 - c1 - 1), v.substr(c2 + 1)});
  }
  if (o.outputs.empty() || o.rate <= 0 || o.seconds <= 0)
    args.fail("--output, and a positive --rate and --seconds, are needed");
  return o;
}

uint64_t place(int32_t partition, int64_t offset) {
  return static_cast<uint64_t>(partition) << 48 | static_cast<uint64_t>(offset);
}

/// Where each output was seen: its input's place and when.
struct sighting {
  uint64_t input;
  int64_t at_us;
};

/// Reads the output topics from the beginning, read_committed, noting when
/// each output became visible.
class output_reader {
public:
  explicit output_reader(const options& o) : opts_(o) {
    std::string err;
    rk_ = make_client(RD_KAFKA_CONSUMER,
                      {{"bootstrap.servers", o.bootstrap},
                       {"group.id", "latency-probe"},
                       {"enable.auto.commit", "false"},
                       {"isolation.level", "read_committed"},
                       {"enable.partition.eof", "true"},
                       {"fetch.wait.max.ms", "10"}},
                      err);
    if (!rk_)
      die(err);
    partition_list_ptr list{rd_kafka_topic_partition_list_new(16)};
    for (auto& out : o.outputs)
      for (int32_t p = 0; p < partitions_of(out.topic); ++p) {
        rd_kafka_topic_partition_list_add(list.get(), out.topic.c_str(), p)->offset
          = RD_KAFKA_OFFSET_BEGINNING;
        ends_[out.topic + "/" + std::to_string(p)] = {-1, -1};
      }
    if (auto e = rd_kafka_assign(rk_.get(), list.get()))
      die(std::string("assign: ") + rd_kafka_err2str(e));
    thread_ = std::thread([this] { run(); });
  }

  ~output_reader() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    rd_kafka_consumer_close(rk_.get());
  }

  /// Reads on until every output partition's end as of now is reached.
  bool finish(std::chrono::seconds timeout) {
    {
      std::lock_guard<std::mutex> g{mtx_};
      for (auto& [name, end] : ends_) {
        auto slash = name.rfind('/');
        int64_t lo = 0, hi = 0;
        if (auto e = rd_kafka_query_watermark_offsets(
              rk_.get(), name.substr(0, slash).c_str(), std::stoi(name.substr(slash + 1)), &lo,
              &hi, 10000))
          die(std::string("watermarks: ") + rd_kafka_err2str(e));
        end.target = hi;
      }
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> g{mtx_};
        bool all = std::all_of(ends_.begin(), ends_.end(),
                               [](auto& kv) { return kv.second.reached >= kv.second.target; });
        if (all)
          return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::vector<sighting> take() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    return std::move(seen_);
  }

private:
  struct end_state {
    int64_t reached; // one past the last offset read, or the end-of-partition offset
    int64_t target;
  };

  int partitions_of(const std::string& topic) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
    auto e = rd_kafka_metadata(rk_.get(), 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err)
      die("no metadata for " + topic);
    metadata_ptr owned{md};
    return md->topics[0].partition_cnt;
  }

  static int64_t header_number(rd_kafka_headers_t* h, const std::string& name) {
    const void* v = nullptr;
    size_t n = 0;
    if (rd_kafka_header_get_last(h, name.c_str(), &v, &n) || !v || n == 0 || n > 20)
      return -1;
    return std::strtoll(std::string(static_cast<const char*>(v), n).c_str(), nullptr, 10);
  }

  void run() {
    queue_ptr q{rd_kafka_queue_get_consumer(rk_.get())};
    rd_kafka_message_t* batch[1000];
    std::unordered_map<std::string, const output_spec*> spec;
    for (auto& o : opts_.outputs)
      spec[o.topic] = &o;
    while (!stop_) {
      // A batch call waits until its batch is full or the timeout passes:
      // wait for one record, then take what else is there at once.
      batch[0] = rd_kafka_consume_queue(q.get(), 50);
      if (!batch[0])
        continue;
      const int64_t at = now_us();
      auto n = 1 + std::max<ssize_t>(0, rd_kafka_consume_batch_queue(q.get(), 0, batch + 1, 999));
      std::lock_guard<std::mutex> g{mtx_};
      for (ssize_t i = 0; i < n; ++i) {
        message_ptr m{batch[i]};
        std::string topic = rd_kafka_topic_name(m->rkt);
        auto& end = ends_[topic + "/" + std::to_string(m->partition)];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          end.reached = std::max(end.reached, m->offset);
          continue;
        }
        if (m->err)
          continue;
        end.reached = std::max(end.reached, m->offset + 1);
        auto* s = spec[topic];
        int64_t p = m->partition, off = m->offset; // no headers named: the input itself
        if (!s->partition_header.empty()) {
          rd_kafka_headers_t* h = nullptr;
          if (rd_kafka_message_headers(m.get(), &h))
            continue;
          p = header_number(h, s->partition_header);
          off = header_number(h, s->offset_header);
        }
        if (p >= 0 && off >= 0)
          seen_.push_back({place(static_cast<int32_t>(p), off), at});
      }
    }
  }

  const options& opts_;
  client_ptr rk_;
  std::mutex mtx_;
  std::unordered_map<std::string, end_state> ends_;
  std::vector<sighting> seen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct sent_record {
  int64_t at_us;
  bool counted;
};

struct producer_state {
  std::mutex mtx;
  std::unordered_map<uint64_t, sent_record> sent; // by input place
  std::vector<int64_t> sent_at;                   // by sequence number
  int64_t counted_from = 0;                       // first sequence number counted
  std::string error;
};

std::vector<std::pair<std::string, std::string>> read_input(const std::string& path,
                                                            size_t max) {
  std::ifstream in(path);
  if (!in)
    die("cannot read " + path);
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  while (out.size() < max && std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos)
      out.emplace_back("", line);
    else
      out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  if (out.empty())
    die(path + " is empty");
  return out;
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty())
    return -1;
  auto i = static_cast<size_t>(q * static_cast<double>(sorted.size()));
  return sorted[std::min(i, sorted.size() - 1)];
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  const auto total = static_cast<size_t>(opts.rate * opts.seconds);
  auto records = read_input(opts.input, total);
  output_reader reader(opts);

  producer_state ps;
  ps.sent_at.resize(total);
  ps.counted_from = static_cast<int64_t>(opts.rate * opts.warmup);
  std::string err;
  auto conf = make_conf({{"bootstrap.servers", opts.bootstrap},
                         {"enable.idempotence", "true"},
                         {"acks", "all"},
                         {"linger.ms", "1"},
                         {"queue.buffering.max.messages", "1000000"}},
                        err);
  if (!conf)
    die(err);
  rd_kafka_conf_set_opaque(conf.get(), &ps);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m,
                                             void* opaque) {
    auto& ps = *static_cast<producer_state*>(opaque);
    auto seq = reinterpret_cast<uintptr_t>(m->_private);
    std::lock_guard<std::mutex> g{ps.mtx};
    if (m->err) {
      ps.error = rd_kafka_err2str(m->err);
      return;
    }
    ps.sent[place(m->partition, m->offset)]
      = {ps.sent_at[seq], static_cast<int64_t>(seq) >= ps.counted_from};
  });
  char errstr[512];
  client_ptr rk{rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr))};
  if (!rk)
    die(errstr);
  conf.release();

  const auto start = std::chrono::steady_clock::now();
  size_t next = 0;
  while (next < total) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                       .count();
    auto due = std::min(total, static_cast<size_t>(elapsed * opts.rate) + 1);
    for (; next < due; ++next) {
      auto& [key, value] = records[next % records.size()];
      ps.sent_at[next] = now_us();
      for (;;) {
        auto e = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_TOPIC(opts.topic.c_str()),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(next))),
          RD_KAFKA_V_END);
        if (!e)
          break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
          die(std::string("produce: ") + rd_kafka_err2str(e));
        rd_kafka_poll(rk.get(), 10);
      }
    }
    rd_kafka_poll(rk.get(), 0);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                        .count();
  rd_kafka_flush(rk.get(), 60000);
  if (!ps.error.empty())
    die("delivery failed: " + ps.error);
  std::printf("{\"event\":\"produced\",\"count\":%zu,\"offered\":%.1f}\n", total,
              static_cast<double>(total) / took);
  std::fflush(stdout);

  std::string line;
  std::getline(std::cin, line); // the driver: the contender has committed everything
  bool complete = reader.finish(std::chrono::seconds(120));
  auto seen = reader.take();

  std::vector<double> lat;
  size_t counted_inputs = 0;
  {
    std::lock_guard<std::mutex> g{ps.mtx};
    for (auto& [where, s] : ps.sent)
      counted_inputs += s.counted ? 1 : 0;
    std::unordered_map<uint64_t, bool> first;
    for (auto& s : seen) {
      auto i = ps.sent.find(s.input);
      if (i == ps.sent.end() || !i->second.counted || !first.emplace(s.input, true).second)
        continue;
      lat.push_back(static_cast<double>(s.at_us - i->second.at_us) / 1000.0);
    }
  }
  std::sort(lat.begin(), lat.end());
  std::printf("{\"event\":\"result\",\"complete\":%s,\"inputs\":%zu,\"matched\":%zu,"
              "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"p999_ms\":%.2f,\"max_ms\":%.2f,"
              "\"offered\":%.1f}\n",
              complete ? "true" : "false", counted_inputs, lat.size(), percentile(lat, 0.5),
              percentile(lat, 0.99), percentile(lat, 0.999), lat.empty() ? -1.0 : lat.back(),
              static_cast<double>(total) / took);
  return 0;
}

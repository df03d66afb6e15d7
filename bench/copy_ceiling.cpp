// The copy ceiling of bench/service_bench.py: the least any consume →
// produce service must do on this machine, and so the physical limit of
// `wcoord run`. Each input record becomes one output record (same key,
// value and partition, plus wcoord's three source headers) through the
// producer wcoord uses (kafka/producer.hpp: idempotent, acks=all,
// linger.ms=5, its own poll thread), and offsets are committed as wcoord
// commits them: at least once, asynchronously every commit interval, the
// lowest offset whose output is not delivered yet (kafka/offset_tracker);
// exactly once (--transactional), in a transaction every commit interval
// holding the outputs of exactly the records below the offsets it commits.
// It reads with wcoord's consumer settings except the prefetch bound (see
// run()). No parsing, no decisions, no store.
//
//   copy_ceiling --bootstrap-servers HOST:PORT --topic IN --group G --output OUT
//                [--transactional] [--commit-interval-ms 1000] [--set key=value]...
//
// Prints "assigned N partition(s)" when the group assigns partitions;
// SIGTERM commits what is done and exits 0.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "kafka/consumer_settings.hpp"
#include "kafka/handles.hpp"
#include "kafka/offset_tracker.hpp"
#include "kafka/producer.hpp"
#include "tool_args.hpp"

namespace {

using namespace wcoord;
using namespace wcoord::kafka;
using clock_type = std::chrono::steady_clock;

std::atomic<bool> stopping{false};

struct options {
  std::string bootstrap, topic, group, output;
  bool transactional = false;
  std::chrono::milliseconds commit_interval{1000};
  std::map<std::string, std::string> extra;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "copy_ceiling: %s\n", what.c_str());
  std::exit(1);
}

options parse_args(int argc, char** argv) {
  bench::tool_args args("copy_ceiling",
                        "copy_ceiling --bootstrap-servers HOST:PORT --topic IN --group G "
                        "--output OUT [--transactional] [--commit-interval-ms MS] "
                        "[--set key=value]...",
                        argc, argv,
                        {"--bootstrap-servers", "--topic", "--group", "--output",
                         "--commit-interval-ms", "--set"},
                        {"--transactional"});
  options o;
  o.bootstrap = args.get("--bootstrap-servers");
  o.topic = args.get("--topic");
  o.group = args.get("--group");
  o.output = args.get("--output");
  o.transactional = args.has("--transactional");
  o.commit_interval = std::chrono::milliseconds(std::stoll(args.get("--commit-interval-ms", "1000")));
  for (auto& kv : args.all("--set")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      args.fail("--set wants key=value");
    o.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return o;
}

/// Delivery report ids carry the input record's place: partition in the
/// high 16 bits, offset below.
uint64_t record_id(int32_t partition, int64_t offset) {
  return static_cast<uint64_t>(partition) << 48 | static_cast<uint64_t>(offset);
}

struct copier {
  options opts;
  offset_tracker tracker;
  std::unique_ptr<producer> out;
  client_ptr consumer;
  std::set<topic_partition> assigned;
  std::map<topic_partition, int64_t> committed;
  /// Exactly once: one past the last record produced in the open transaction.
  std::map<topic_partition, int64_t> next_offset;
  uint64_t copied = 0;

  void check(rd_kafka_error_t* e, const char* what) {
    error_ptr err{e};
    if (err)
      die(std::string(what) + ": " + rd_kafka_error_string(err.get()));
  }

  /// At least once: commits the lowest undelivered offset of every
  /// partition that moved, as wcoord's consumer does.
  void commit_delivered(bool sync) {
    partition_list_ptr list{rd_kafka_topic_partition_list_new(8)};
    for (auto& tp : assigned) {
      auto p = tracker.progress(tp);
      if (!p || p->committable < 0 || p->committable <= committed[tp])
        continue;
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset
        = p->committable;
      committed[tp] = p->committable;
    }
    if (list->cnt > 0)
      if (auto err = rd_kafka_commit(consumer.get(), list.get(), sync ? 0 : 1))
        std::fprintf(stderr, "copy_ceiling: commit failed: %s\n", rd_kafka_err2str(err));
  }

  /// Exactly once: commits the open transaction with the offsets of
  /// everything produced in it, and opens the next one.
  void commit_transaction(bool reopen) {
    partition_list_ptr list{rd_kafka_topic_partition_list_new(8)};
    for (auto& [tp, next] : next_offset)
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset
        = next;
    if (list->cnt > 0) {
      std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                      decltype(&rd_kafka_consumer_group_metadata_destroy)>
        md{rd_kafka_consumer_group_metadata(consumer.get()),
           rd_kafka_consumer_group_metadata_destroy};
      check(rd_kafka_send_offsets_to_transaction(out->handle(), list.get(), md.get(), 10000),
            "send offsets to transaction");
    }
    check(rd_kafka_commit_transaction(out->handle(), 60000), "commit transaction");
    next_offset.clear();
    if (reopen)
      check(rd_kafka_begin_transaction(out->handle()), "begin transaction");
  }

  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(consumer.get()),
                                         "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) {
        topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
        tracker.assign(tp, -1);
        assigned.insert(tp);
      }
      if (cooperative)
        error_ptr{rd_kafka_incremental_assign(consumer.get(), parts)};
      else
        rd_kafka_assign(consumer.get(), parts);
      std::printf("assigned %d partition(s)\n", parts->cnt);
      std::fflush(stdout);
      return;
    }
    // Revoked: finish and commit what was taken, as wcoord hands over.
    out->flush(std::chrono::seconds(60));
    if (opts.transactional)
      commit_transaction(!stopping);
    else
      commit_delivered(true);
    for (int i = 0; i < parts->cnt; ++i) {
      topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
      tracker.revoke(tp);
      assigned.erase(tp);
      committed.erase(tp);
    }
    if (cooperative)
      error_ptr{rd_kafka_incremental_unassign(consumer.get(), parts)};
    else
      rd_kafka_assign(consumer.get(), nullptr);
  }

  void copy(const rd_kafka_message_t* m) {
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__FATAL)
        die(rd_kafka_message_errstr(m));
      return;
    }
    topic_partition tp{rd_kafka_topic_name(m->rkt), m->partition};
    rd_kafka_timestamp_type_t tstype;
    tracker.dispatched(tp, m->offset, rd_kafka_message_timestamp(m, &tstype));
    outgoing_record r;
    r.topic = opts.output;
    r.partition = m->partition;
    if (m->key)
      r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
    r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
    r.headers = {{"wcoord.source.topic", tp.topic},
                 {"wcoord.source.partition", std::to_string(m->partition)},
                 {"wcoord.source.offset", std::to_string(m->offset)}};
    r.id = record_id(m->partition, m->offset);
    if (auto err = out->send(r))
      die(std::string("produce: ") + rd_kafka_err2str(err));
    if (opts.transactional)
      next_offset[tp] = m->offset + 1;
    ++copied;
  }

  void run() {
    std::map<std::string, std::string> common = opts.extra;
    common["bootstrap.servers"] = opts.bootstrap;
    auto pprops = common;
    if (opts.transactional) {
      pprops["transactional.id"] = opts.group + "-copy";
      pprops["transaction.timeout.ms"] = "300000";
    }
    pprops.emplace("message.max.bytes", std::to_string((1 << 20) + (64 << 10)));
    const std::string in_topic = opts.topic;
    out = std::make_unique<producer>(pprops, [this, in_topic](std::vector<delivery>&& ds) {
      for (auto& d : ds) {
        if (d.error)
          die(std::string("delivery failed: ") + rd_kafka_err2str(d.error));
        tracker.finished({in_topic, static_cast<int32_t>(d.id >> 48)},
                         static_cast<int64_t>(d.id & ((uint64_t{1} << 48) - 1)));
      }
    });
    if (opts.transactional) {
      check(rd_kafka_init_transactions(out->handle(), 60000), "init transactions");
      check(rd_kafka_begin_transaction(out->handle()), "begin transaction");
    }

    auto cprops = common;
    cprops["group.id"] = opts.group;
    // librdkafka's own prefetch bound (64 MiB a partition), not wcoord's
    // 4 MiB: librdkafka 2.0 waits a fixed second before it fetches again
    // for a partition whose queue passed the bound (fetch.queue.backoff.ms
    // came in 2.2), so a bound of B caps a partition at B per second
    // whatever the machine can do: 4 MiB held this copy to ~39k records/s
    // here, 16 MiB or more let it reach ~120k. The ceiling is the machine's.
    cprops.emplace("queued.max.messages.kbytes", "65536");
    cprops = consumer_settings(cprops); // wcoord's consumer settings otherwise
    std::string error;
    auto conf = make_conf(cprops, error);
    if (!conf)
      die(error);
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(
      conf.get(), [](rd_kafka_t*, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t* parts, void* opaque) {
        static_cast<copier*>(opaque)->on_rebalance(err, parts);
      });
    char errstr[512];
    consumer.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof(errstr)));
    if (!consumer)
      die(errstr);
    conf.release();
    rd_kafka_poll_set_consumer(consumer.get());
    partition_list_ptr subs{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(subs.get(), opts.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto e = rd_kafka_subscribe(consumer.get(), subs.get()))
      die(std::string("subscribe: ") + rd_kafka_err2str(e));

    queue_ptr queue{rd_kafka_queue_get_consumer(consumer.get())};
    constexpr size_t slice = 500;
    rd_kafka_message_t* batch[slice];
    auto next_commit = clock_type::now() + opts.commit_interval;
    while (!stopping) {
      // A batch call waits until its batch is full or the timeout passes:
      // wait for one record, then take what else is there at once.
      ssize_t n = 0;
      if ((batch[0] = rd_kafka_consume_queue(queue.get(), 100)))
        n = 1 + std::max<ssize_t>(0, rd_kafka_consume_batch_queue(queue.get(), 0, batch + 1,
                                                                   slice - 1));
      for (ssize_t i = 0; i < n; ++i) {
        message_ptr m{batch[i]};
        copy(m.get());
      }
      if (clock_type::now() >= next_commit) {
        if (opts.transactional)
          commit_transaction(true);
        else
          commit_delivered(false);
        next_commit = clock_type::now() + opts.commit_interval;
      }
    }
    queue.reset();
    rd_kafka_consumer_close(consumer.get()); // the revoke commits the rest
    out->flush(std::chrono::seconds(30));
    std::fprintf(stderr, "copy_ceiling: %llu records copied\n",
                 static_cast<unsigned long long>(copied));
  }
};

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, [](int) { stopping = true; });
  std::signal(SIGINT, [](int) { stopping = true; });
  copier c;
  c.opts = parse_args(argc, argv);
  c.run();
  return 0;
}

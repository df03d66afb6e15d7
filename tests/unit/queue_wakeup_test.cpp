// kafka/queue_wakeup.hpp on librdkafka's mock cluster: a consumer's idle
// wait ends when a record reaches a partition queue split off the consumer
// queue, as `wcoord run` reads them.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "kafka/embedded_cluster.hpp"
#include "kafka/handles.hpp"
#include "kafka/queue_wakeup.hpp"

using namespace wcoord::kafka;
using namespace std::chrono_literals;

namespace {

void produce_one(const std::string& bootstrap, const std::string& topic, const std::string& v) {
  std::string error;
  auto p = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}}, error);
  REQUIRE(p);
  REQUIRE(rd_kafka_producev(p.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                            RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)
          == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_flush(p.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
}

} // namespace

TEST_CASE("queue_wakeup: a record reaching a watched partition queue ends the wait") {
  embedded_cluster cluster;
  cluster.create_topic("wakeup", 1);
  std::string error;
  auto c = make_client(RD_KAFKA_CONSUMER,
                       {{"bootstrap.servers", cluster.bootstrap_servers()},
                        {"group.id", "wakeup-test"},
                        {"auto.offset.reset", "earliest"},
                        {"enable.auto.commit", "false"}},
                       error);
  REQUIRE(c);
  rd_kafka_poll_set_consumer(c.get());
  partition_list_ptr parts{rd_kafka_topic_partition_list_new(1)};
  rd_kafka_topic_partition_list_add(parts.get(), "wakeup", 0);
  REQUIRE(rd_kafka_assign(c.get(), parts.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  queue_ptr q{rd_kafka_queue_get_partition(c.get(), "wakeup", 0)};
  REQUIRE(q);
  rd_kafka_queue_forward(q.get(), nullptr);

  queue_wakeup wakeup;
  wakeup.watch(q.get());
  for (std::string value : {"first", "second"}) {
    produce_one(cluster.bootstrap_servers(), "wakeup", value);
    // Read as the consumer does: clear, look, wait. Other operations on
    // the queue may end a wait early; a record that did not signal would
    // leave it waiting the whole minute, which the time shows (ctest's
    // timeout is far below it).
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + 60s;
    message_ptr m;
    while (!m && std::chrono::steady_clock::now() < deadline) {
      wakeup.clear();
      m.reset(rd_kafka_consume_queue(q.get(), 0));
      if (!m)
        wakeup.wait(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    }
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    REQUIRE(m);
    REQUIRE(m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(std::string(static_cast<const char*>(m->payload), m->len) == value);
  }
  wakeup.unwatch(q.get());
  q.reset();
  rd_kafka_consumer_close(c.get());
}

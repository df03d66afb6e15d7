#include <catch2/catch.hpp>

#include "kafka/consumer_settings.hpp"

using wcoord::kafka::consumer_settings;

TEST_CASE("consumer settings: offsets never move by themselves, whatever the user says") {
  auto s = consumer_settings({{"enable.auto.commit", "true"},
                              {"enable.auto.offset.store", "true"},
                              {"bootstrap.servers", "b:9092"}});
  CHECK(s.at("enable.auto.commit") == "false");
  CHECK(s.at("enable.auto.offset.store") == "false");
  CHECK(s.at("bootstrap.servers") == "b:9092");
}

TEST_CASE("consumer settings: defaults fill what the user left unset") {
  auto s = consumer_settings({});
  CHECK(s.at("auto.offset.reset") == "earliest");
  CHECK(s.at("partition.assignment.strategy") == "cooperative-sticky");
  // Bounded prefetch per assigned partition (librdkafka's own is 64 MiB).
  CHECK(s.at("queued.max.messages.kbytes") == "4096");
}

TEST_CASE("consumer settings: several topics keep partition N together with range") {
  CHECK(consumer_settings({}, true).at("partition.assignment.strategy") == "range");
  CHECK(consumer_settings({}, false).at("partition.assignment.strategy") == "cooperative-sticky");
}

TEST_CASE("consumer settings: the user's values win over the defaults") {
  auto s = consumer_settings({{"auto.offset.reset", "latest"},
                              {"partition.assignment.strategy", "range"},
                              {"queued.max.messages.kbytes", "65536"}});
  CHECK(s.at("auto.offset.reset") == "latest");
  CHECK(s.at("partition.assignment.strategy") == "range");
  CHECK(s.at("queued.max.messages.kbytes") == "65536");
}

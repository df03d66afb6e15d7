#include <catch2/catch.hpp>

#include "engine/duration.hpp"

using wcoord::parse_duration;

TEST_CASE("durations accept ms, s, m, h and bare milliseconds") {
  CHECK(parse_duration("250ms")->count() == 250);
  CHECK(parse_duration("60s")->count() == 60000);
  CHECK(parse_duration("2m")->count() == 120000);
  CHECK(parse_duration("24h")->count() == 86400000);
  CHECK(parse_duration("42")->count() == 42);
}

TEST_CASE("durations refuse garbage, negatives and overflow") {
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("10d"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("9223372036854775807h"));
}

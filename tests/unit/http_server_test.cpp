// The pure parts of the HTTP surface: strict percent-decoding of document
// paths (an encoded NUL never cuts an id short), the bearer token file and
// its comparison.

#include <catch2/catch.hpp>

#include <fstream>
#include <unistd.h>

#include "app/http_server.hpp"

using namespace wcoord;

namespace {

std::string temp_file(const std::string& text) {
  char path[] = "/tmp/wcoord-token-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

} // namespace

TEST_CASE("path segments decode strictly") {
  std::string err;
  CHECK(http::decode_segment("o-1", err) == "o-1");
  CHECK(http::decode_segment("a%2Fb", err) == "a/b");
  CHECK(http::decode_segment("a%2fb", err) == "a/b");
  CHECK(http::decode_segment("a+b", err) == "a+b"); // a path, not a form
  CHECK(http::decode_segment("%25", err) == "%");
  CHECK(http::decode_segment("%2500", err) == "%00"); // the text "%00", not a NUL
  CHECK(http::decode_segment("caf%C3%A9", err) == "caf\xC3\xA9");
  CHECK(http::decode_segment("", err) == "");

  for (const char* bad : {"a%00b", "%00", "a%0", "a%", "%zz", "%0g", "%C3", "%C0%AF",
                          "%ED%A0%80", "%F4%90%80%80", "%FF"}) {
    INFO(bad);
    err.clear();
    CHECK_FALSE(http::decode_segment(bad, err));
    CHECK_FALSE(err.empty());
  }
  err.clear();
  CHECK_FALSE(http::decode_segment("id%00suffix", err));
  CHECK(err.find("%00") != std::string::npos);
}

TEST_CASE("an encoded NUL anywhere in a raw path is found") {
  CHECK(http::has_encoded_nul("/v1/docs/i/a%00b"));
  CHECK(http::has_encoded_nul("/healthz%00"));
  CHECK(http::has_encoded_nul("%00"));
  CHECK_FALSE(http::has_encoded_nul("/v1/docs/i/a%2500"));
  CHECK_FALSE(http::has_encoded_nul("/v1/docs/i/a%0"));
  CHECK_FALSE(http::has_encoded_nul("/metrics"));
}

TEST_CASE("document paths") {
  auto p = http::parse_doc_path("/v1/docs/orders/o-1");
  CHECK(p.error.empty());
  CHECK(p.index == "orders");
  CHECK(p.id == "o-1");
  p = http::parse_doc_path("/v1/docs/orders/a%2Fb%20c");
  CHECK(p.error.empty());
  CHECK(p.id == "a/b c");

  for (const char* bad : {"/v1/docs/only-an-index", "/v1/docs/i/a/extra", "/v1/docs//a",
                          "/v1/docs/i/", "/v1/doc/i/a", "/v1/docs/i/a%00b", "/v1/docs/i%00/a",
                          "/v1/docs/i/%zz", "/v1/docs/%2F/%00"}) {
    INFO(bad);
    auto q = http::parse_doc_path(bad);
    CHECK_FALSE(q.error.empty());
    CHECK(q.id.empty());
  }
  // An id decoding to more than 512 bytes is refused.
  std::string long_id(513, 'x');
  CHECK_FALSE(http::parse_doc_path("/v1/docs/i/" + long_id).error.empty());
  CHECK(http::parse_doc_path("/v1/docs/i/" + long_id.substr(1)).error.empty());
  // An id whose raw form is long but decodes short is fine.
  std::string encoded;
  for (int i = 0; i < 200; ++i)
    encoded += "%41";
  CHECK(http::parse_doc_path("/v1/docs/i/" + encoded).id == std::string(200, 'A'));
}

TEST_CASE("bearer credentials") {
  CHECK(http::bearer_credentials("Bearer abc") == "abc");
  CHECK(http::bearer_credentials("bearer   abc  ") == "abc");
  CHECK(http::bearer_credentials("BEARER abc") == "abc");
  CHECK(http::bearer_credentials("Bearer") == "");
  CHECK(http::bearer_credentials("Bearer ") == "");
  CHECK(http::bearer_credentials("Bearerabc") == "");
  CHECK(http::bearer_credentials("Basic dXNlcjpwYXNz") == "");
  CHECK(http::bearer_credentials("") == "");
  CHECK(http::bearer_credentials("abc") == "");
}

TEST_CASE("tokens compare in full") {
  CHECK(http::constant_time_equal("0123456789abcdef", "0123456789abcdef"));
  CHECK_FALSE(http::constant_time_equal("0123456789abcdeF", "0123456789abcdef"));
  CHECK_FALSE(http::constant_time_equal("x123456789abcdef", "0123456789abcdef"));
  CHECK_FALSE(http::constant_time_equal("0123456789abcde", "0123456789abcdef"));
  CHECK_FALSE(http::constant_time_equal("0123456789abcdef0", "0123456789abcdef"));
  CHECK_FALSE(http::constant_time_equal("", "0123456789abcdef"));
  // A given value that is the expected one with a NUL-terminated tail.
  CHECK_FALSE(http::constant_time_equal(std::string_view("0123456789abcdef\0x", 18),
                                        "0123456789abcdef"));
}

TEST_CASE("token files") {
  std::string token;
  REQUIRE_FALSE(http::read_token_file(temp_file("  s3cr3t-t0ken-0123456789\n"), token));
  CHECK(token == "s3cr3t-t0ken-0123456789");
  // Errors never repeat the file's content.
  for (const char* bad : {"", "\n", "short-token", "has a space inside it ok",
                          "tab\tinside-0123456789", "nul\0inside-0123456789"}) {
    std::string content(bad, std::string_view(bad).size());
    INFO(content);
    auto err = http::read_token_file(temp_file(content), token);
    REQUIRE(err);
    if (!content.empty())
      CHECK(err->find(content) == std::string::npos);
  }
  // An embedded NUL (the literal above stops at it) is refused too.
  auto err = http::read_token_file(temp_file(std::string("nul\0inside-0123456789", 21)), token);
  CHECK(err);
  CHECK(http::read_token_file("/nonexistent/token", token));
}

// The public conformance vectors, decided by the pure rules in sequence and
// compared field by field (as ../shared/tools/check-vectors does).

#include <catch2/catch.hpp>

#include <simdjson.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/answers.hpp"
#include "engine/mutation_parser.hpp"

using namespace wcoord;

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      out.push_back(line);
  return out;
}

} // namespace

TEST_CASE("public vectors: every expected field matches") {
  auto inputs = read_lines(WCOORD_VECTORS_DIR "/public.jsonl");
  auto expected = read_lines(WCOORD_VECTORS_DIR "/public.expected.jsonl");
  REQUIRE(inputs.size() == expected.size());
  REQUIRE(inputs.size() > 100);
  mutation_parser parser;
  std::map<std::pair<std::string, std::string>, document_state> docs;
  simdjson::dom::parser ep, gp;
  record_context ctx;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ctx.record_timestamp = 0;
    auto r = parser.parse(inputs[i], ctx);
    decision d;
    if (r.invalid) {
      d = *r.invalid;
    } else {
      auto& cur = docs[{r.value.index, r.value.id}];
      document_state next = cur;
      d = decide(cur, r.value, 60000, next);
      if (d.kind == outcome::applied)
        cur = next;
    }
    auto answer = render_bulk_item({r.value.op, r.value.index, r.value.id,
                                    r.has_id, r.parsed}, d);
    INFO("line " << i + 1 << ": " << inputs[i] << "\n got " << answer
                 << "\n want " << expected[i]);
    simdjson::dom::object want, got;
    REQUIRE(ep.parse(expected[i]).get(want) == simdjson::SUCCESS);
    REQUIRE(gp.parse(answer).get(got) == simdjson::SUCCESS);
    auto [action, body] = *want.begin();
    simdjson::dom::element gbody;
    REQUIRE(got[action].get(gbody) == simdjson::SUCCESS);
    for (auto [k, v] : simdjson::dom::object(body)) {
      if (k == "error") {
        for (auto [ek, ev] : simdjson::dom::object(v))
          CHECK(simdjson::to_string(gbody["error"][ek]) == simdjson::to_string(ev));
      } else {
        CHECK(simdjson::to_string(gbody[k]) == simdjson::to_string(v));
      }
    }
  }
}

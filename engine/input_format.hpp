#pragma once
// Which format a topic's records are in, and the decoder that reads each
// record in its topic's format: wcoord mutations (contract §1, the default)
// or Debezium change events (engine/debezium_event.hpp). Selected where
// records are parsed; everything after sees only mutations and decisions.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/debezium_event.hpp"
#include "engine/mutation_parser.hpp"

namespace wcoord {

enum class input_format { mutation, debezium };

/// "mutation" | "debezium".
std::optional<input_format> parse_input_format(std::string_view text);
const char* to_string(input_format f);

/// `input.format`, and `input.format.<topic>` for the topics that differ.
struct input_formats {
  input_format fallback = input_format::mutation;
  std::map<std::string, input_format, std::less<>> by_topic;

  input_format of(std::string_view topic) const {
    auto i = by_topic.find(topic);
    return i == by_topic.end() ? fallback : i->second;
  }
  bool uses(input_format f) const;
};

/// One record, decoded: a mutation or the invalid answer, or a skip.
struct decoded_record {
  parse_result result;
  /// Nothing to decide (a Debezium tombstone): only counted.
  bool skip = false;
};

/// Keep one per thread (it owns the parsers).
class record_decoder {
public:
  explicit record_decoder(input_formats formats = {}, debezium_options debezium = {});

  /// `value` is nullopt for a null record value.
  decoded_record decode(std::string_view topic, std::optional<std::string_view> value,
                        const record_context& ctx);

private:
  input_formats formats_;
  mutation_parser mutations_;
  debezium_translator debezium_;
};

} // namespace wcoord

#include "engine/input_format.hpp"

namespace wcoord {

std::optional<input_format> parse_input_format(std::string_view text) {
  if (text == "mutation")
    return input_format::mutation;
  if (text == "debezium")
    return input_format::debezium;
  return std::nullopt;
}

const char* to_string(input_format f) {
  return f == input_format::debezium ? "debezium" : "mutation";
}

bool input_formats::uses(input_format f) const {
  if (fallback == f)
    return true;
  for (auto& [topic, format] : by_topic)
    if (format == f)
      return true;
  return false;
}

record_decoder::record_decoder(input_formats formats, debezium_options debezium)
  : formats_(std::move(formats)), debezium_(std::move(debezium)) {
  // nop
}

decoded_record record_decoder::decode(std::string_view topic,
                                      std::optional<std::string_view> value,
                                      const record_context& ctx) {
  decoded_record out;
  if (formats_.of(topic) == input_format::debezium) {
    auto t = debezium_.translate(value, ctx);
    out.skip = t.tombstone;
    out.result = std::move(t.result);
  } else {
    // A null value is an empty one here: not a mutation (400).
    out.result = mutations_.parse(value.value_or(std::string_view{}), ctx);
  }
  return out;
}

} // namespace wcoord

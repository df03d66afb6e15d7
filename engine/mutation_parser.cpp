#include "engine/mutation_parser.hpp"

#include <simdjson.h>

#include <cstring>
#include <vector>

namespace wcoord {

namespace {

namespace od = simdjson::ondemand;

constexpr size_t max_id_bytes = 512;
/// Deeper documents are refused; a recursive walk stays far from the stack limit.
constexpr int max_doc_depth = 256;

enum class field_state { absent, ok, wrong_type };

/// Everything read from the top-level object, validated afterwards in the
/// order semantics.md prescribes.
struct raw_fields {
  field_state op = field_state::absent;
  std::string op_text;
  field_state vtype = field_state::absent;
  std::string vtype_text;
  field_state id = field_state::absent;
  field_state index = field_state::absent;
  field_state version = field_state::absent;
  std::string version_text;
  field_state doc = field_state::absent;
  field_state timestamp = field_state::absent;
};

std::string describe(simdjson::error_code ec) {
  return simdjson::error_message(ec);
}

/// Touches every value below `v` so that malformed content the on-demand
/// parser would otherwise skip is reported.
simdjson::error_code walk(od::value v, int depth) {
  if (depth > max_doc_depth)
    return simdjson::DEPTH_ERROR;
  od::json_type t;
  if (auto ec = v.type().get(t))
    return ec;
  switch (t) {
    case od::json_type::object: {
      od::object obj;
      if (auto ec = v.get_object().get(obj))
        return ec;
      for (auto field : obj) {
        std::string_view key;
        if (auto ec = field.unescaped_key().get(key))
          return ec;
        if (auto ec = walk(field.value(), depth + 1))
          return ec;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto ec = v.get_array().get(arr))
        return ec;
      for (auto elem : arr) {
        od::value inner;
        if (auto ec = elem.get(inner))
          return ec;
        if (auto ec = walk(inner, depth + 1))
          return ec;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number: {
      od::number n;
      return v.get_number().get(n);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null;
      if (auto ec = v.is_null().get(is_null))
        return ec;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

/// The raw text of an object value: from its '{' to the matching '}'. The
/// parser's position after the walk is the next structural token, so the
/// closing brace is the last non-blank byte before it.
std::string_view raw_span(const char* begin, const char* next_token) {
  const char* end = next_token;
  while (end > begin && end[-1] != '}')
    --end;
  return {begin, static_cast<size_t>(end - begin)};
}

std::string json_token_text(std::string_view token) {
  // Trim the whitespace the token view may carry.
  while (!token.empty()
         && (token.back() == ' ' || token.back() == '\n' || token.back() == '\t'
             || token.back() == '\r' || token.back() == ','))
    token.remove_suffix(1);
  if (token.size() > 64)
    return std::string(token.substr(0, 64)) + "...";
  return std::string(token);
}

} // namespace

struct mutation_parser::impl {
  od::parser parser;
  std::string buffer; // padded copy of the value

  parse_result run(std::string_view value, const record_context& ctx);
};

mutation_parser::mutation_parser() : impl_(std::make_unique<impl>()) {
  // nop
}

mutation_parser::~mutation_parser() = default;

parse_result mutation_parser::parse(std::string_view value,
                                    const record_context& ctx) {
  try {
    return impl_->run(value, ctx);
  } catch (const std::exception& e) {
    // simdjson reports through error codes; this guards allocation failures
    // and anything unforeseen so one record can never stop a partition.
    parse_result r;
    r.parsed = false;
    r.invalid = invalid_decision("parse_exception",
                                 std::string("failed to parse: ") + e.what());
    return r;
  }
}

parse_result mutation_parser::impl::run(std::string_view value,
                                        const record_context& ctx) {
  parse_result r;
  mutation& m = r.value;
  m.index = std::string(ctx.default_index);
  m.timestamp = ctx.record_timestamp;
  auto fail_parse = [&](std::string reason) {
    // Nothing read from an unparseable value is trustworthy.
    m = mutation{};
    m.index = std::string(ctx.default_index);
    m.timestamp = ctx.record_timestamp;
    r.parsed = false;
    r.invalid = invalid_decision("parse_exception", std::move(reason));
    return std::move(r);
  };
  if (value.size() > ctx.max_bytes)
    return fail_parse("record of " + std::to_string(value.size())
                      + " bytes exceeds the limit of "
                      + std::to_string(ctx.max_bytes) + " bytes");

  // Kafka payloads are not padded; simdjson needs SIMDJSON_PADDING spare bytes.
  buffer.assign(value.data(), value.size());
  buffer.reserve(value.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto ec = parser.iterate(buffer).get(doc))
    return fail_parse("failed to parse JSON: " + describe(ec));
  od::object obj;
  if (auto ec = doc.get_object().get(obj))
    return fail_parse("record value is not a JSON object: " + describe(ec));

  raw_fields f;
  std::string_view doc_raw;
  for (auto field : obj) {
    std::string_view key;
    if (auto ec = field.unescaped_key().get(key))
      return fail_parse("failed to parse JSON: " + describe(ec));
    od::value v = field.value();
    od::json_type t;
    if (auto ec = v.type().get(t))
      return fail_parse("failed to parse JSON at field [" + std::string(key)
                        + "]: " + describe(ec));
    auto read_string = [&](field_state& state, std::string& out) {
      std::string_view s;
      if (t == od::json_type::string) {
        if (auto ec = v.get_string().get(s))
          return ec;
        state = field_state::ok;
        out.assign(s);
        return simdjson::SUCCESS;
      }
      state = field_state::wrong_type;
      out = json_token_text(v.raw_json_token());
      return walk(v, 0);
    };
    simdjson::error_code ec = simdjson::SUCCESS;
    if (key == "op") {
      ec = read_string(f.op, f.op_text);
    } else if (key == "version_type") {
      ec = read_string(f.vtype, f.vtype_text);
    } else if (key == "id") {
      ec = read_string(f.id, m.id);
      if (f.id == field_state::wrong_type)
        m.id.clear();
    } else if (key == "index") {
      std::string text;
      ec = read_string(f.index, text);
      if (f.index == field_state::ok)
        m.index = std::move(text);
    } else if (key == "version" || key == "timestamp") {
      const bool is_version = key == "version";
      field_state& state = is_version ? f.version : f.timestamp;
      int64_t n = 0;
      std::string_view raw = v.raw_json_token();
      if (is_version)
        f.version_text = json_token_text(raw);
      if (t == od::json_type::number) {
        od::number_type nt;
        if (auto e2 = v.get_number_type().get(nt))
          return fail_parse("failed to parse JSON: " + describe(e2));
        if (nt == od::number_type::signed_integer && !v.get_int64().get(n)) {
          state = field_state::ok;
          if (is_version)
            m.version = n;
          else
            m.timestamp = n;
        } else {
          // Floats and integers beyond int64: consume to check the syntax.
          state = field_state::wrong_type;
          double d;
          if (nt != od::number_type::signed_integer)
            ec = v.get_double().get(d);
          if (ec == simdjson::NUMBER_OUT_OF_RANGE)
            ec = simdjson::SUCCESS;
        }
      } else {
        state = field_state::wrong_type;
        ec = walk(v, 0);
      }
    } else if (key == "doc") {
      if (t == od::json_type::object) {
        const char* begin = nullptr;
        if (auto e2 = v.current_location().get(begin))
          return fail_parse("failed to parse JSON: " + describe(e2));
        ec = walk(v, 0);
        if (!ec) {
          const char* next = nullptr;
          if (auto e2 = doc.current_location().get(next))
            return fail_parse("failed to parse JSON: " + describe(e2));
          doc_raw = raw_span(begin, next);
          f.doc = field_state::ok;
        }
      } else {
        f.doc = field_state::wrong_type;
        ec = walk(v, 0);
      }
    } else {
      ec = walk(v, 0); // unknown fields are ignored, but must be valid JSON
    }
    if (ec)
      return fail_parse("failed to parse JSON at field [" + std::string(key)
                        + "]: " + describe(ec));
  }
  // Past the closing brace the document must end: any location still in
  // bounds is trailing content.
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing))
    return fail_parse("failed to parse JSON: trailing content after the object");

  // Validation, in the order of semantics.md; the first failure answers.
  if (f.op == field_state::ok) {
    if (f.op_text == "index")
      m.op = op_type::index;
    else if (f.op_text == "create")
      m.op = op_type::create;
    else if (f.op_text == "delete")
      m.op = op_type::remove;
  }
  r.has_id = f.id == field_state::ok;
  auto fail = [&](const char* type, const std::string& msg) {
    r.invalid = validation_failure(type, msg);
    return std::move(r);
  };
  if (f.op == field_state::wrong_type
      || (f.op == field_state::ok && f.op_text != "index"
          && f.op_text != "create" && f.op_text != "delete"))
    return fail("illegal_argument_exception",
                "unknown op [" + f.op_text
                  + "], expected one of [index, create, delete]");
  if (f.vtype != field_state::absent) {
    const auto& x = f.vtype_text;
    if (f.vtype == field_state::wrong_type)
      return fail("illegal_argument_exception", "No version type match [" + x + "]");
    if (x == "internal")
      m.vtype = version_type::internal;
    else if (x == "external" || x == "external_gt")
      m.vtype = version_type::external;
    else if (x == "external_gte")
      m.vtype = version_type::external_gte;
    else
      return fail("illegal_argument_exception", "No version type match [" + x + "]");
  }
  if (f.id != field_state::ok || m.id.empty())
    return fail("action_request_validation_exception", "id is missing");
  if (f.version == field_state::wrong_type)
    return fail("illegal_argument_exception",
                "version must be an integer in the int64 range, found ["
                  + f.version_text + "]");
  if (m.op == op_type::create && m.vtype != version_type::internal)
    return fail("action_request_validation_exception",
                "create operations only support internal versioning. use index "
                "instead");
  if (m.op == op_type::create && m.version)
    return fail("action_request_validation_exception",
                "create operations do not support explicit versions. use index "
                "instead");
  {
    const char* name = m.vtype == version_type::internal   ? "INTERNAL"
                       : m.vtype == version_type::external ? "EXTERNAL"
                                                           : "EXTERNAL_GTE";
    const bool bad = m.vtype == version_type::internal
                       ? (m.version && *m.version <= 0)
                       : (!m.version || *m.version < 0);
    if (bad)
      return fail("action_request_validation_exception",
                  "illegal version value [" + std::to_string(m.version.value_or(-3))
                    + "] for version type [" + name + "]");
  }
  if (m.op != op_type::remove) {
    if (f.doc != field_state::ok)
      return fail("action_request_validation_exception", "source is missing");
    m.source.assign(doc_raw);
  }
  if (m.id.size() > max_id_bytes)
    return fail("action_request_validation_exception",
                "id [" + m.id + "] is too long, must be no longer than 512 bytes "
                  "but was: " + std::to_string(m.id.size()));
  if (f.index == field_state::wrong_type || m.index.empty())
    return fail("illegal_argument_exception", "index must be a non-empty string");
  if (f.timestamp == field_state::wrong_type)
    return fail("illegal_argument_exception",
                "timestamp must be an integer (epoch milliseconds)");
  if (ctx.key && *ctx.key != m.id)
    return fail("illegal_argument_exception",
                "record key [" + std::string(ctx.key->substr(0, 64))
                  + "] does not match the id [" + m.id.substr(0, 64) + "]");
  return r;
}

} // namespace wcoord

#include "engine/mutation_parser.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "engine/index_name.hpp"
#include "engine/json_writer.hpp"

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
  field_state doc = field_state::absent;
  /// An integer field: `value` when ok, its JSON text (cut) for messages.
  struct integer {
    field_state state = field_state::absent;
    std::string text;
    int64_t value = 0;
  };
  integer version, timestamp, if_seq_no, if_primary_term;
};

std::string describe(simdjson::error_code ec) {
  return simdjson::error_message(ec);
}

/// A name as error messages quote it: a hostile record may carry a key of
/// a megabyte, which must not travel into every answer and dead letter.
std::string quoted_name(std::string_view name) {
  constexpr size_t max_name_bytes = 256;
  auto kept = json::utf8_prefix(name, max_name_bytes);
  std::string out(kept);
  if (kept.size() < name.size())
    out += "...";
  return out;
}

/// Walks JSON values, refusing duplicate keys in any object.
///
/// Elasticsearch parses sources with Jackson's STRICT_DUPLICATE_DETECTION
/// (libs/x-content/impl/src/main/java/org/elasticsearch/xcontent/provider/
/// json/JsonXContentParser.java: `parser.configure(JsonParser.Feature.
/// STRICT_DUPLICATE_DETECTION, allowDuplicateKeys == false)`), and wraps
/// Jackson's "Duplicate field 'id'" in an XContentParseException whose
/// message is prefixed with "[line:column] " (XContentParseException.
/// getMessage in libs/x-content): a 400 `x_content_parse_exception`. It
/// applies to the whole body, so duplicates inside `doc` count as well.
///
/// Cheap for the common small object: each object's keys are a run at the
/// top of one reused stack (no allocation once warm) with a 64-bit Bloom
/// filter of their hashes, so a new key is almost always known new at once;
/// only when its bits are taken are the names compared. An object past
/// `linear_keys` keys switches to a hash set of its own. The mutation's own
/// fields are checked by the parser with one bit each.
class key_walker {
public:
  key_walker() : keys_(256) {
    // nop
  }

  /// The whole padded buffer: duplicate positions are reported from it.
  void reset(const char* base) {
    base_ = base;
    top_ = 0;
    duplicate_.clear();
    duplicate_end_ = nullptr;
  }

  /// An object whose keys are checked starts here; pass the result to
  /// add_key and close.
  struct scope {
    size_t begin;
    /// Where the fast path stops: linear_keys keys, or the end of keys_.
    size_t limit;
    /// Two bits per key seen (bits_of): a key with one of them clear is
    /// certainly new, which settles almost every key at once.
    /// All ones once the object uses `big`.
    uint64_t seen;
    std::unique_ptr<std::unordered_set<std::string_view>> big;
  };
  scope open() { return {top_, std::min(top_ + linear_keys, keys_.size()), 0, nullptr}; }
  void close(const scope& s) { top_ = s.begin; }

  /// Records `key` (unescaped). False when the object already had it: then
  /// call duplicate() with where its value starts.
  bool add_key(scope& s, std::string_view key) {
    const uint64_t bits = bits_of(key);
    if ((s.seen & bits) != bits && top_ < s.limit) {
      s.seen |= bits;
      keys_[top_++] = key;
      return true;
    }
    return add_key_slow(s, key, bits);
  }

  /// Notes the duplicate `key` whose value starts at `value`: the name's
  /// closing quote is the last byte before the colon in front of it.
  void duplicate(std::string_view key, const char* value) {
    duplicate_.assign(key);
    const char* p = value ? value : base_;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (p > base_ && blank(p[-1]))
      --p;
    if (p > base_ && p[-1] == ':')
      --p;
    while (p > base_ && blank(p[-1]))
      --p;
    duplicate_end_ = p;
  }

  bool found_duplicate() const { return duplicate_end_ != nullptr; }

  /// Elasticsearch's reason: "[line:column] Duplicate field 'name'", the
  /// position just past the name as Jackson reports it (1-based, bytes).
  std::string duplicate_reason() const {
    size_t line = 1;
    const char* line_start = base_;
    for (const char* p = base_; p < duplicate_end_; ++p)
      if (*p == '\n') {
        ++line;
        line_start = p + 1;
      }
    return "[" + std::to_string(line) + ":" + std::to_string(duplicate_end_ - line_start + 1)
           + "] Duplicate field '" + quoted_name(duplicate_) + "'";
  }

  /// Touches every value below `v` so that malformed content the on-demand
  /// parser would otherwise skip is reported, and checks every object's keys.
  simdjson::error_code walk(od::value v, int depth);

private:
  /// A key's two bits in `scope::seen` (a tiny Bloom filter), from a hash
  /// of its length and end bytes: with a handful of names per object a
  /// false "maybe seen" is rare, and only then are names compared.
  static uint64_t bits_of(std::string_view k) {
    if (k.empty())
      return 1;
    const uint64_t first = static_cast<unsigned char>(k.front());
    const uint64_t last = static_cast<unsigned char>(k.back());
    const uint64_t mix = (k.size() << 16 | first << 8 | last) * 0x9e3779b97f4a7c15ull;
    return uint64_t{1} << (mix >> 58) | uint64_t{1} << ((mix >> 52) & 63);
  }

  /// A possible duplicate (its bits were set), or an object past
  /// linear_keys keys, which moves to a hash set of its own.
  __attribute__((noinline)) bool add_key_slow(scope& s, std::string_view key, uint64_t bits) {
    if (!s.big) {
      for (size_t i = s.begin; i < top_; ++i)
        if (keys_[i] == key)
          return false;
      if (top_ - s.begin < linear_keys) {
        if (top_ == keys_.size()) // deep nesting: room for more runs
          keys_.resize(keys_.size() * 2);
        s.limit = std::min(s.begin + linear_keys, keys_.size());
        s.seen |= bits;
        keys_[top_++] = key;
        return true;
      }
      s.big = std::make_unique<std::unordered_set<std::string_view>>(
        keys_.begin() + static_cast<std::ptrdiff_t>(s.begin),
        keys_.begin() + static_cast<std::ptrdiff_t>(top_));
      top_ = s.begin;
      s.seen = ~uint64_t{0};
    }
    return s.big->insert(key).second;
  }


  static constexpr size_t linear_keys = 32;
  const char* base_ = nullptr;
  /// The runs of the objects being walked, outermost first; [0, top_) used.
  std::vector<std::string_view> keys_;
  size_t top_ = 0;
  std::string duplicate_;
  const char* duplicate_end_ = nullptr;
};

simdjson::error_code key_walker::walk(od::value v, int depth) {
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
      auto keys = open();
      for (auto field : obj) {
        std::string_view key;
        if (auto ec = field.unescaped_key().get(key))
          return ec;
        if (!add_key(keys, key)) {
          const char* at = nullptr;
          if (field.value().current_location().get(at))
            at = nullptr;
          duplicate(key, at);
          return simdjson::INCORRECT_TYPE; // found_duplicate() tells
        }
        if (auto ec = walk(field.value(), depth + 1))
          return ec;
      }
      close(keys);
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
  key_walker walker;
  /// The last index name found valid: nearly every record of a stream
  /// carries the same one (or the default), and checking a name again cost
  /// 4% of the service's CPU (bench/README.md).
  std::string valid_index;

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
  auto fail_parse = [&](std::string reason, const char* type = "parse_exception") {
    // Nothing read from an unparseable value is trustworthy.
    m = mutation{};
    m.index = std::string(ctx.default_index);
    m.timestamp = ctx.record_timestamp;
    r.parsed = false;
    r.invalid = invalid_decision(type, std::move(reason));
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
  walker.reset(buffer.data());
  // Known fields are told apart by one bit each, other names by the walker.
  enum field_name : unsigned {
    k_op, k_vtype, k_id, k_index, k_version, k_timestamp, k_if_seq_no, k_if_primary_term, k_doc
  };
  auto other_keys = walker.open();
  unsigned seen_fields = 0;
  auto fail_duplicate = [&] {
    return fail_parse(walker.duplicate_reason(), "x_content_parse_exception");
  };
  auto repeated = [&seen_fields](field_name name) {
    const bool before = (seen_fields >> name) & 1u;
    seen_fields |= 1u << name;
    return before;
  };
  // The duplicate `key` whose value is `v`: Elasticsearch's position is
  // found from where its value starts.
  auto duplicate_at = [&](od::value& v, std::string_view key) {
    const char* at = nullptr;
    if (v.current_location().get(at))
      at = nullptr;
    walker.duplicate(key, at);
    return fail_duplicate();
  };
  for (auto field : obj) {
    std::string_view key;
    if (auto ec = field.unescaped_key().get(key))
      return fail_parse("failed to parse JSON: " + describe(ec));
    od::value v = field.value();
    od::json_type t;
    if (auto ec = v.type().get(t))
      return fail_parse("failed to parse JSON at field [" + quoted_name(key)
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
      return walker.walk(v, 0);
    };
    simdjson::error_code ec = simdjson::SUCCESS;
    if (key == "op") {
      if (repeated(k_op))
        return duplicate_at(v, key);
      ec = read_string(f.op, f.op_text);
    } else if (key == "version_type") {
      if (repeated(k_vtype))
        return duplicate_at(v, key);
      ec = read_string(f.vtype, f.vtype_text);
    } else if (key == "id") {
      if (repeated(k_id))
        return duplicate_at(v, key);
      ec = read_string(f.id, m.id);
      if (f.id == field_state::wrong_type)
        m.id.clear();
    } else if (key == "index") {
      if (repeated(k_index))
        return duplicate_at(v, key);
      std::string text;
      ec = read_string(f.index, text);
      if (f.index == field_state::ok)
        m.index = std::move(text);
    } else if (key == "version" || key == "timestamp" || key == "if_seq_no"
               || key == "if_primary_term") {
      const field_name name = key == "version"     ? k_version
                              : key == "timestamp" ? k_timestamp
                              : key == "if_seq_no" ? k_if_seq_no
                                                   : k_if_primary_term;
      if (repeated(name))
        return duplicate_at(v, key);
      raw_fields::integer& field = name == k_version     ? f.version
                                   : name == k_timestamp ? f.timestamp
                                   : name == k_if_seq_no ? f.if_seq_no
                                                         : f.if_primary_term;
      field.text = json_token_text(v.raw_json_token());
      if (t == od::json_type::number) {
        od::number_type nt;
        if (auto e2 = v.get_number_type().get(nt))
          return fail_parse("failed to parse JSON: " + describe(e2));
        if (nt == od::number_type::signed_integer && !v.get_int64().get(field.value)) {
          field.state = field_state::ok;
        } else {
          // Floats, integers beyond int64 and malformed numbers (`07`, which
          // looks like an integer but is not JSON): read as a double, which
          // checks the syntax. A failed read leaves the value unconsumed.
          field.state = field_state::wrong_type;
          double d;
          ec = v.get_double().get(d);
          if (ec == simdjson::NUMBER_OUT_OF_RANGE)
            ec = simdjson::SUCCESS;
        }
      } else {
        field.state = field_state::wrong_type;
        ec = walker.walk(v, 0);
      }
    } else if (key == "doc") {
      if (repeated(k_doc))
        return duplicate_at(v, key);
      if (t == od::json_type::object) {
        const char* begin = nullptr;
        if (auto e2 = v.current_location().get(begin))
          return fail_parse("failed to parse JSON: " + describe(e2));
        ec = walker.walk(v, 0);
        if (!ec) {
          const char* next = nullptr;
          if (auto e2 = doc.current_location().get(next))
            return fail_parse("failed to parse JSON: " + describe(e2));
          doc_raw = raw_span(begin, next);
          f.doc = field_state::ok;
        }
      } else {
        f.doc = field_state::wrong_type;
        ec = walker.walk(v, 0);
      }
    } else {
      if (!walker.add_key(other_keys, key))
        return duplicate_at(v, key);
      ec = walker.walk(v, 0); // unknown fields are ignored, but must be valid JSON
    }
    if (walker.found_duplicate())
      return fail_duplicate();
    if (ec)
      return fail_parse("failed to parse JSON at field [" + quoted_name(key)
                        + "]: " + describe(ec));
  }
  // Past the closing brace the document must end: any location still in
  // bounds is trailing content.
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing))
    return fail_parse("failed to parse JSON: trailing content after the object");
  r.json_text = true; // every byte of it was walked above

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
  if (f.version.state == field_state::ok)
    m.version = f.version.value;
  if (f.timestamp.state == field_state::ok)
    m.timestamp = f.timestamp.value;
  // Elasticsearch wraps only an ActionRequestValidationException's messages
  // in "Validation Failed: 1: …;"; an IllegalArgumentException (an unknown
  // version type, a malformed value) answers with its message as it is.
  auto fail = [&](const char* type, const std::string& msg) {
    r.invalid = validation_failure(type, msg);
    return std::move(r);
  };
  auto fail_argument = [&](const std::string& msg) {
    r.invalid = invalid_decision("illegal_argument_exception", msg);
    return std::move(r);
  };
  if (f.op == field_state::wrong_type
      || (f.op == field_state::ok && f.op_text != "index"
          && f.op_text != "create" && f.op_text != "delete"))
    return fail_argument("unknown op [" + f.op_text
                         + "], expected one of [index, create, delete]");
  if (f.vtype != field_state::absent) {
    const auto& x = f.vtype_text;
    if (f.vtype == field_state::wrong_type)
      return fail_argument("No version type match [" + x + "]");
    if (x == "internal")
      m.vtype = version_type::internal;
    else if (x == "external" || x == "external_gt")
      m.vtype = version_type::external;
    else if (x == "external_gte")
      m.vtype = version_type::external_gte;
    else
      return fail_argument("No version type match [" + x + "]");
  }
  if (f.id != field_state::ok || m.id.empty())
    return fail("action_request_validation_exception", "id is missing");
  if (f.version.state == field_state::wrong_type)
    return fail_argument("version must be an integer in the int64 range, found ["
                         + f.version.text + "]");
  if (f.if_seq_no.state == field_state::wrong_type)
    return fail_argument("if_seq_no must be an integer in the int64 range, found ["
                         + f.if_seq_no.text + "]");
  if (f.if_primary_term.state == field_state::wrong_type)
    return fail_argument("if_primary_term must be an integer in the int64 range, found ["
                         + f.if_primary_term.text + "]");
  // The setters throw IllegalArgumentException (server/src/main/java/org/
  // elasticsearch/action/index/IndexRequest.java and action/delete/
  // DeleteRequest.java, setIfSeqNo / setIfPrimaryTerm); -2 is
  // UNASSIGNED_SEQ_NO and 0 UNASSIGNED_PRIMARY_TERM, which mean "not set".
  const int64_t if_seq_no =
    f.if_seq_no.state == field_state::ok ? f.if_seq_no.value : unassigned_seq_no;
  const int64_t if_term = f.if_primary_term.state == field_state::ok
                            ? f.if_primary_term.value
                            : unassigned_primary_term;
  if (if_seq_no < 0 && if_seq_no != unassigned_seq_no)
    return fail_argument("sequence numbers must be non negative. got ["
                         + std::to_string(if_seq_no) + "].");
  if (if_term < 0)
    return fail_argument("primary term must be non negative. got [" + std::to_string(if_term)
                         + "]");
  if (m.op == op_type::create && m.vtype != version_type::internal)
    return fail("action_request_validation_exception",
                "create operations only support internal versioning. use index "
                "instead");
  if (m.op == op_type::create && m.version)
    return fail("action_request_validation_exception",
                "create operations do not support explicit versions. use index "
                "instead");
  if (m.op == op_type::create
      && (if_seq_no != unassigned_seq_no || if_term != unassigned_primary_term))
    return fail("action_request_validation_exception",
                "create operations do not support compare and set. use index instead");
  {
    // DocWriteRequest.validateSeqNoBasedCASParams (server/src/main/java/org/
    // elasticsearch/action/DocWriteRequest.java) collects every one of these
    // into one answer, numbered. Its "internal versioning can not be used
    // for optimistic concurrency control" is left out: explicit internal
    // versions are allowed here (semantics.md, choice 1).
    std::vector<std::string> errors;
    const char* name = m.vtype == version_type::internal   ? "INTERNAL"
                       : m.vtype == version_type::external ? "EXTERNAL"
                                                           : "EXTERNAL_GTE";
    const bool bad = m.vtype == version_type::internal
                       ? (m.version && *m.version <= 0)
                       : (!m.version || *m.version < 0);
    if (bad)
      errors.push_back("illegal version value [" + std::to_string(m.version.value_or(-3))
                       + "] for version type [" + name + "]");
    if (if_seq_no != unassigned_seq_no && (m.vtype != version_type::internal || m.version))
      errors.push_back("compare and write operations can not use versioning");
    if (if_term == unassigned_primary_term && if_seq_no != unassigned_seq_no)
      errors.push_back("ifSeqNo is set, but primary term is [0]");
    if (if_term != unassigned_primary_term && if_seq_no == unassigned_seq_no)
      errors.push_back("ifSeqNo is unassigned, but primary term is [" + std::to_string(if_term)
                       + "]");
    if (!errors.empty()) {
      r.invalid = validation_failures("action_request_validation_exception", errors);
      return r;
    }
  }
  if (if_seq_no != unassigned_seq_no) {
    m.if_seq_no = if_seq_no;
    m.if_primary_term = if_term;
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
    return fail_argument("index must be a non-empty string");
  if (m.index != valid_index) {
    if (auto reason = invalid_index_name_reason(m.index)) {
      r.invalid = invalid_decision("invalid_index_name_exception", std::move(*reason));
      return r;
    }
    valid_index = m.index;
  }
  if (f.timestamp.state == field_state::wrong_type)
    return fail_argument("timestamp must be an integer (epoch milliseconds)");
  if (ctx.key && *ctx.key != m.id)
    return fail_argument("record key [" + std::string(ctx.key->substr(0, 64))
                         + "] does not match the id [" + m.id.substr(0, 64) + "]");
  return r;
}

} // namespace wcoord

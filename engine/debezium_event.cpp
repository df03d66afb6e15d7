#include "engine/debezium_event.hpp"

#include <simdjson.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "engine/index_name.hpp"

namespace wcoord {

namespace {

namespace dom = simdjson::dom;
namespace od = simdjson::ondemand;

/// Same bounds as the mutation parser: ids Elasticsearch accepts, and a
/// depth far from the stack limit of the duplicate walk below.
constexpr size_t max_id_bytes = 512;
constexpr size_t max_depth = 256;
/// Values quoted in reasons are cut: a reason must stay readable.
constexpr size_t max_quoted_bytes = 64;

const char* const error_type = "debezium_event_exception";

std::string cut(std::string_view text) {
  if (text.size() <= max_quoted_bytes)
    return std::string(text);
  // Cut at a UTF-8 boundary: never in the middle of a sequence.
  size_t n = max_quoted_bytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
    --n;
  return std::string(text.substr(0, n)) + "...";
}

/// The JSON text of a scalar, for reasons and ids (minified, as simdjson
/// prints it).
std::string text_of(dom::element e) {
  std::string_view s;
  if (!e.get_string().get(s))
    return std::string(s);
  return simdjson::to_string(e);
}

std::optional<dom::element> field(dom::object o, std::string_view name) {
  dom::element e;
  if (o.at_key(name).get(e))
    return std::nullopt;
  return e;
}

/// The object inside Kafka Connect's schema wrapper, else `o` itself. The
/// wrapper is exactly {"schema","payload"}; a bare envelope or key never
/// has that shape unless its only columns are named so, which the
/// schema's own shape (an object or null) then tells apart.
dom::element unwrap(dom::element e, bool& wrapped) {
  wrapped = false;
  dom::object o;
  if (e.get_object().get(o) || o.size() != 2)
    return e;
  auto schema = field(o, "schema");
  auto payload = field(o, "payload");
  if (!schema || !payload || !(schema->is_object() || schema->is_null()))
    return e;
  wrapped = true;
  return *payload;
}

/// Elasticsearch refuses duplicate keys anywhere in a body; so does the
/// mutation parser, and a document must not depend on which format it
/// came in. Returns the dotted path of the first duplicate.
std::optional<std::string> find_duplicate(dom::element e) {
  dom::object o;
  dom::array a;
  if (!e.get_object().get(o)) {
    std::vector<std::string_view> keys;
    keys.reserve(o.size());
    for (auto kv : o)
      keys.push_back(kv.key);
    std::sort(keys.begin(), keys.end());
    auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end())
      return std::string(*dup);
    for (auto kv : o)
      if (auto inner = find_duplicate(kv.value))
        return std::string(kv.key) + "." + *inner;
  } else if (!e.get_array().get(a)) {
    for (auto x : a)
      if (auto inner = find_duplicate(x))
        return "[]." + *inner;
  }
  return std::nullopt;
}

struct failure {
  std::string reason;
};

/// An integer version field: present, not null, in the int64 range, >= 0.
std::optional<failure> version_value(std::optional<dom::element> e, const std::string& name,
                                     int64_t& v) {
  if (!e)
    return failure{name + " is missing"};
  if (e->is_null())
    return failure{name + " is null"};
  if (e->type() != dom::element_type::INT64 || e->get_int64().get(v))
    return failure{name + " is not an integer in the int64 range: [" + cut(text_of(*e)) + "]"};
  if (v < 0)
    return failure{name + " is negative: [" + std::to_string(v) + "]"};
  return std::nullopt;
}

/// The event's version as `opts` says where to find it.
std::optional<failure> read_version(dom::object envelope, bool has_source, dom::object source,
                                    bool is_delete, const debezium_options& opts,
                                    std::optional<int64_t>& out) {
  using version_source = debezium_options::version_source;
  int64_t version = 0;
  if (opts.version == version_source::column) {
    const char* row_name = is_delete ? "before" : "after";
    auto row = field(envelope, row_name);
    dom::object row_obj;
    if (!row || row->get_object().get(row_obj))
      return failure{std::string(row_name) + " is missing (the version comes from its column ["
                     + cut(opts.version_column) + "])"};
    const std::string name = std::string(row_name) + "." + cut(opts.version_column);
    auto column = field(row_obj, opts.version_column);
    if (is_delete && (!column || column->is_null()))
      return failure{name + (column ? " is null" : " is missing")
                     + ": a delete carries the old row's columns only with REPLICA IDENTITY "
                       "FULL on the table"};
    if (auto f = version_value(column, name, version))
      return f;
    if (is_delete) {
      // The delete follows the write that set the column to `version`:
      // it must beat that write (external needs a greater version), and a
      // re-emitted copy of that write must be stale against the tombstone.
      if (version == std::numeric_limits<int64_t>::max())
        return failure{name + " is the largest int64: a delete needs a version above it"};
      ++version;
    }
  } else {
    if (!has_source)
      return failure{"source is missing (the version comes from it)"};
    const char* name = opts.version == version_source::lsn ? "lsn" : "ts_ms";
    if (auto f = version_value(field(source, name), std::string("source.") + name, version))
      return f;
  }
  out = version;
  return std::nullopt;
}

} // namespace

std::optional<debezium_options::index_source> parse_index_source(std::string_view text) {
  using s = debezium_options::index_source;
  if (text == "table")
    return s::table;
  if (text == "schema.table")
    return s::schema_table;
  if (text == "fixed")
    return s::fixed;
  return std::nullopt;
}

bool parse_version_source(std::string_view text, debezium_options::version_source& source,
                          std::string& column) {
  using s = debezium_options::version_source;
  constexpr std::string_view prefix = "column:";
  if (text == "source.lsn") {
    source = s::lsn;
  } else if (text == "source.ts_ms") {
    source = s::ts_ms;
  } else if (text.substr(0, prefix.size()) == prefix && text.size() > prefix.size()) {
    source = s::column;
    column.assign(text.substr(prefix.size()));
    return true;
  } else {
    return false;
  }
  column.clear();
  return true;
}

std::optional<version_type> parse_debezium_version_type(std::string_view text) {
  if (text == "external")
    return version_type::external;
  if (text == "external_gte")
    return version_type::external_gte;
  return std::nullopt;
}

std::string composite_id(const std::string* parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0)
      out += ',';
    for (char c : parts[i]) {
      if (c == ',' || c == '\\')
        out += '\\';
      out += c;
    }
  }
  return out;
}

struct debezium_translator::impl {
  dom::parser dom_parser;
  od::parser raw_parser;
  std::string buffer; // padded copy of the value, then of the key
  std::vector<std::string> parts;

  impl() {
    // Depth as the mutation parser allows; the capacity grows on demand.
    if (dom_parser.allocate(1 << 16, max_depth))
      throw std::bad_alloc();
  }

  /// Copies `text` into the padded buffer simdjson reads from.
  void load(std::string_view text) {
    buffer.assign(text.data(), text.size());
    buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  }

  /// The raw bytes of the value's `after` object: DOM elements have no
  /// position, so the (already validated) buffer is walked once more.
  std::optional<std::string_view> raw_after(bool wrapped) {
    od::document doc;
    od::object top, after;
    if (raw_parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(doc)
        || doc.get_object().get(top))
      return std::nullopt;
    if (wrapped && top.find_field_unordered("payload").get_object().get(top))
      return std::nullopt;
    std::string_view raw;
    if (top.find_field_unordered("after").get_object().get(after) || after.raw_json().get(raw))
      return std::nullopt;
    // raw_json runs to the next structural character: trim what follows
    // the closing brace.
    while (!raw.empty() && raw.back() != '}')
      raw.remove_suffix(1);
    return raw;
  }

  /// The document id from the record key, or why there is none.
  std::optional<failure> read_id(std::optional<std::string_view> key, std::string_view table,
                                 std::string& id);

  std::optional<failure> run(std::string_view value, const record_context& ctx,
                             const debezium_options& opts, debezium_translation& out);
};

std::optional<failure> debezium_translator::impl::read_id(std::optional<std::string_view> key,
                                                          std::string_view table,
                                                          std::string& id) {
  if (!key || key->empty())
    return failure{"key is missing: the table [" + cut(table)
                   + "] has no primary key, so its rows have no document id (give it a "
                     "primary key, or set the connector's message.key.columns)"};
  load(*key);
  dom::element e;
  if (auto ec = dom_parser.parse(buffer.data(), buffer.size(), false).get(e))
    return failure{std::string("key is not valid JSON: ") + simdjson::error_message(ec)};
  bool wrapped = false;
  e = unwrap(e, wrapped);
  dom::object o;
  if (e.is_null())
    return failure{"key is missing: the table [" + cut(table) + "] has no primary key"};
  if (e.get_object().get(o))
    return failure{"key is not a JSON object"};
  if (o.size() == 0)
    return failure{"key has no fields"};
  parts.clear();
  for (auto kv : o) {
    const std::string name = "key." + cut(kv.key);
    switch (kv.value.type()) {
      case dom::element_type::STRING:
      case dom::element_type::INT64:
      case dom::element_type::UINT64:
      case dom::element_type::DOUBLE:
      case dom::element_type::BOOL:
        parts.push_back(text_of(kv.value));
        break;
      case dom::element_type::NULL_VALUE:
        return failure{name + " is null"};
      default:
        return failure{name + " is not a string, number or boolean"};
    }
  }
  id = parts.size() == 1 ? std::move(parts.front()) : composite_id(parts.data(), parts.size());
  if (id.empty())
    return failure{"the document id from the key is empty"};
  if (id.size() > max_id_bytes)
    return failure{"the document id from the key is too long, must be no longer than 512 "
                   "bytes but was: "
                   + std::to_string(id.size())};
  return std::nullopt;
}

std::optional<failure> debezium_translator::impl::run(std::string_view value,
                                                      const record_context& ctx,
                                                      const debezium_options& opts,
                                                      debezium_translation& out) {
  parse_result& r = out.result;
  mutation& m = r.value;
  auto unparsed = [&](std::string reason) {
    r.parsed = false;
    return failure{std::move(reason)};
  };
  if (value.size() > ctx.max_bytes)
    return unparsed("record of " + std::to_string(value.size()) + " bytes exceeds the limit of "
                    + std::to_string(ctx.max_bytes) + " bytes");
  load(value);
  dom::element root;
  if (auto ec = dom_parser.parse(buffer.data(), buffer.size(), false).get(root))
    return unparsed(std::string("failed to parse JSON: ") + simdjson::error_message(ec));
  if (!root.is_object())
    return unparsed("record value is not a JSON object");
  if (auto dup = find_duplicate(root))
    return failure{"duplicate field [" + cut(*dup) + "]"};
  bool wrapped = false;
  dom::element payload = unwrap(root, wrapped);
  if (payload.is_null()) {
    out.tombstone = true; // {"schema":null,"payload":null}: a tombstone too
    return std::nullopt;
  }
  dom::object envelope;
  if (payload.get_object().get(envelope))
    return failure{"payload is not a JSON object"};

  // op first: it says what else is needed.
  auto op_field = field(envelope, "op");
  std::string_view op;
  if (!op_field)
    return failure{"op is missing: not a Debezium change event"};
  if (op_field->get_string().get(op))
    return failure{"op is not a string: [" + cut(text_of(*op_field)) + "]"};
  const bool is_delete = op == "d";
  if (op != "c" && op != "r" && op != "u" && op != "d" && op != "t")
    return failure{"op [" + cut(op) + "] is unknown, expected one of [c, r, u, d, t]"};
  m.op = is_delete ? op_type::remove : op_type::index;

  dom::object source;
  const bool has_source = !envelope["source"].get_object().get(source);
  auto source_text = [&](const char* name) -> std::optional<std::string_view> {
    std::string_view s;
    if (!has_source || source[name].get_string().get(s))
      return std::nullopt;
    return s;
  };
  const auto table = source_text("table");
  const auto schema = source_text("schema");
  const std::string table_name =
    (schema ? std::string(*schema) + "." : std::string()) + std::string(table.value_or("?"));

  // Index.
  using index_source = debezium_options::index_source;
  std::optional<failure> index_failure;
  if (opts.index == index_source::fixed)
    m.index = std::string(ctx.default_index);
  else if (!has_source)
    index_failure = failure{"source is missing (the index comes from source.table)"};
  else if (!table || table->empty())
    index_failure = failure{"source.table is missing"};
  else if (opts.index == index_source::schema_table && (!schema || schema->empty()))
    index_failure = failure{"source.schema is missing (debezium.index=schema.table)"};
  else
    m.index = opts.index == index_source::table ? std::string(*table) : table_name;

  if (op == "t")
    return failure{"op [t]: the truncate of table [" + cut(table_name)
                   + "] is not replicated, wcoord decides document by document (delete "
                     "the documents with their own events)"};
  if (index_failure)
    return index_failure;
  if (auto why = invalid_index_name_reason(m.index)) {
    // Elasticsearch could hold no such index: refused as the mutation
    // parser refuses it, naming where the name came from.
    const char* from = opts.index == index_source::fixed        ? "the fixed index"
                       : opts.index == index_source::schema_table ? "source.schema.table"
                                                                  : "source.table";
    return failure{std::string(from) + ": " + *why};
  }

  // The row and the version, read before the key: the key reuses the
  // parse buffers. Their failures are reported after the key's, the one
  // that says whether the row has an identity at all.
  std::optional<failure> row_failure;
  std::optional<std::string> raw_after_text;
  if (!is_delete) {
    auto after = field(envelope, "after");
    if (!after || after->is_null())
      row_failure = failure{"after is missing: op [" + std::string(op) + "] carries the new row"};
    else if (!after->is_object())
      row_failure = failure{"after is not a JSON object"};
    else if (auto raw = raw_after(wrapped))
      raw_after_text.emplace(*raw);
    else
      row_failure = failure{"after could not be read"};
  }
  if (!row_failure)
    row_failure = read_version(envelope, has_source, source, is_delete, opts, m.version);
  m.vtype = opts.vtype;
  // Event time: when the change happened in the database, so a replay
  // days later cannot outlive a tombstone's gc.deletes window.
  int64_t ts = 0;
  if (has_source && !source["ts_ms"].get_int64().get(ts))
    m.timestamp = ts;
  else if (!envelope["ts_ms"].get_int64().get(ts))
    m.timestamp = ts;
  else
    m.timestamp = ctx.record_timestamp;

  if (auto f = read_id(ctx.key, table_name, m.id))
    return f;
  r.has_id = true;
  if (row_failure)
    return row_failure;
  if (raw_after_text)
    m.source = std::move(*raw_after_text);
  return std::nullopt;
}

debezium_translator::debezium_translator(debezium_options opts)
  : opts_(std::move(opts)), impl_(std::make_unique<impl>()) {
  // nop
}

debezium_translator::~debezium_translator() = default;

debezium_translation debezium_translator::translate(std::optional<std::string_view> value,
                                                    const record_context& ctx) {
  debezium_translation out;
  if (!value) {
    out.tombstone = true;
    return out;
  }
  std::optional<failure> f;
  try {
    // Defaults an invalid event's dead letter and metrics show.
    out.result.value.index = std::string(ctx.default_index);
    out.result.value.timestamp = ctx.record_timestamp;
    out.result.value.vtype = opts_.vtype;
    f = impl_->run(*value, ctx, opts_, out);
  } catch (const std::exception& e) {
    // simdjson reports through error codes; this guards allocation
    // failures, so one record can never stop a partition.
    out.result.parsed = false;
    f = failure{std::string("failed to translate: ") + e.what()};
  }
  if (f) {
    out.tombstone = false;
    out.result.invalid = invalid_decision(error_type, std::move(f->reason));
  }
  return out;
}

} // namespace wcoord

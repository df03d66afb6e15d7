#pragma once
// Debezium change events as mutations (input.format=debezium).
//
// A pure translation: the record's key and value in, a mutation or the 400
// answer that says which field is wrong out, or "skip" for a Kafka
// tombstone. No I/O, no clocks; the parsers inside are only reused
// buffers. Both JSON shapes of Kafka Connect's JsonConverter are read, with
// and without the schema wrapper ({"schema":…,"payload":…}), for the key
// and the value alike.
//
// | Debezium                       | mutation                                        |
// |--------------------------------|-------------------------------------------------|
// | op c (insert), r (snapshot), u | index, doc = after (byte-exact)                 |
// | op d                           | delete                                          |
// | op t (truncate), other ops     | invalid: the reason names `op`                  |
// | null value (Kafka tombstone)   | skipped: the delete event before it decides     |
// | source.table                   | index (or schema.table, or a fixed index)       |
// | key fields                     | id: one field's value as text; several joined   |
// |                                | by `,` in key order, `\` escaping `,` and `\`   |
// | source.lsn / source.ts_ms /    | version (external by default); a delete decided |
// | a row column                   | by a column carries before's value + 1          |
// | source.ts_ms                   | timestamp (event time of tombstones)            |

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/mutation_parser.hpp"

namespace wcoord {

struct debezium_options {
  /// Where the index comes from.
  enum class index_source {
    table,        ///< source.table: `orders`
    schema_table, ///< source.schema + "." + source.table: `public.orders`
    fixed,        ///< the record context's default index (default.index, else the topic)
  };
  /// Where the version comes from.
  enum class version_source {
    lsn,    ///< source.lsn: PostgreSQL's log position, the order of commits per row
    ts_ms,  ///< source.ts_ms: the change's commit time in the database (ms)
    column, ///< a column of the row (after; before for deletes)
  };
  index_source index = index_source::table;
  version_source version = version_source::lsn;
  /// The column for version_source::column.
  std::string version_column;
  /// external: a strictly greater version wins. external_gte: equal wins
  /// too (for sources where two changes may carry one version, ts_ms).
  version_type vtype = version_type::external;
};

/// `debezium.index`: table | schema.table | fixed.
std::optional<debezium_options::index_source> parse_index_source(std::string_view text);
/// `debezium.version`: source.lsn | source.ts_ms | column:<name>. Returns
/// false for anything else; `column` receives the name.
bool parse_version_source(std::string_view text, debezium_options::version_source& source,
                          std::string& column);
/// `debezium.version.type`: external | external_gte.
std::optional<version_type> parse_debezium_version_type(std::string_view text);

/// What one record turns into.
struct debezium_translation {
  /// A Kafka tombstone (null value, or a null payload in the schema
  /// wrapper): Debezium's companion of a delete event, for log compaction.
  /// It carries no decision of its own and is only counted.
  bool tombstone = false;
  /// The mutation, or (invalid set) why the event is not one.
  parse_result result;
};

/// Reusable translator; keep one per thread (it owns simdjson parsers).
class debezium_translator {
public:
  explicit debezium_translator(debezium_options opts = {});
  ~debezium_translator();
  debezium_translator(const debezium_translator&) = delete;
  debezium_translator& operator=(const debezium_translator&) = delete;

  /// `value` is nullopt for a null record value (a tombstone). Of `ctx`,
  /// the key, the default index (index_source::fixed), the record
  /// timestamp (when the event has no source.ts_ms) and the size limit are
  /// used. Never throws.
  debezium_translation translate(std::optional<std::string_view> value,
                                 const record_context& ctx);

  const debezium_options& options() const { return opts_; }

private:
  struct impl;
  debezium_options opts_;
  std::unique_ptr<impl> impl_;
};

/// The document id of a multi-column key: `parts` joined by `,`, each with
/// `\` and `,` escaped by a `\` (so `a,b` + `c` and `a` + `b,c` differ).
std::string composite_id(const std::string* parts, size_t count);

} // namespace wcoord

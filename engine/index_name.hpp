#pragma once
// Elasticsearch's rules for index names, with its reasons: a mutation whose
// `index` Elasticsearch would refuse is refused here too (400
// `invalid_index_name_exception`), instead of creating a document no
// Elasticsearch index could hold.

#include <optional>
#include <string>
#include <string_view>

namespace wcoord {

/// Nullopt for a valid name, else Elasticsearch's reason, e.g.
/// `Invalid index name [A], must be lowercase`. `name` is UTF-8 (the parser
/// checked it) and not empty.
std::optional<std::string> invalid_index_name_reason(std::string_view name);

} // namespace wcoord

#include "engine/versioning.hpp"

#include <limits>

namespace wcoord {

namespace {

constexpr int64_t missing_version = -1;

decision conflict(const mutation& m, int64_t current, const document_state& doc,
                  std::string why) {
  decision d;
  d.kind = (m.op == op_type::create || m.vtype == version_type::internal)
             ? outcome::conflict
             : outcome::stale;
  d.status = 409;
  d.current_version = current;
  if (current != -1) {
    d.current_seq_no = doc.seq_no;
    d.current_primary_term = doc.primary_term;
  }
  d.error = error_info{"version_conflict_engine_exception",
                       "[" + m.id + "]: version conflict, " + std::move(why)};
  return d;
}

std::string bracket(int64_t v) {
  return "[" + std::to_string(v) + "]";
}

} // namespace

const char* to_string(op_type op) {
  switch (op) {
    case op_type::index: return "index";
    case op_type::create: return "create";
    case op_type::remove: return "delete";
  }
  return "index";
}

const char* to_string(version_type vt) {
  switch (vt) {
    case version_type::internal: return "internal";
    case version_type::external: return "external";
    case version_type::external_gte: return "external_gte";
  }
  return "internal";
}

const char* to_string(outcome o) {
  switch (o) {
    case outcome::applied: return "applied";
    case outcome::stale: return "stale";
    case outcome::conflict: return "conflict";
    case outcome::invalid: return "invalid";
  }
  return "invalid";
}

const char* to_string(write_result r) {
  switch (r) {
    case write_result::none: return "none";
    case write_result::created: return "created";
    case write_result::updated: return "updated";
    case write_result::deleted: return "deleted";
    case write_result::not_found: return "not_found";
  }
  return "none";
}

bool document_state::operator==(const document_state& other) const {
  if (state != other.state)
    return false;
  switch (state) {
    case kind::missing: return true;
    case kind::live:
      return version == other.version && source == other.source && seq_no == other.seq_no
             && primary_term == other.primary_term;
    case kind::tombstone:
      return version == other.version && delete_timestamp == other.delete_timestamp
             && seq_no == other.seq_no && primary_term == other.primary_term;
  }
  return false;
}

document_state::kind effective_kind(const document_state& doc, int64_t now_ms,
                                    int64_t gc_deletes_ms) {
  if (doc.state == document_state::kind::tombstone) {
    // Subtract in 128 bits: event times are producer-supplied and may sit at
    // the int64 edges.
    __int128 age = static_cast<__int128>(now_ms) - doc.delete_timestamp;
    if (age > gc_deletes_ms)
      return document_state::kind::missing;
  }
  return doc.state;
}

void assign_seq_no(decision& d, document_state& next, int64_t seq_no, int64_t primary_term) {
  d.seq_no = next.seq_no = seq_no;
  d.primary_term = next.primary_term = primary_term;
}

decision validation_failure(std::string type, const std::string& message) {
  return validation_failures(std::move(type), {message});
}

decision validation_failures(std::string type, const std::vector<std::string>& messages) {
  std::string reason = "Validation Failed: ";
  for (size_t i = 0; i < messages.size(); ++i)
    reason += std::to_string(i + 1) + ": " + messages[i] + ";";
  return invalid_decision(std::move(type), std::move(reason));
}

decision invalid_decision(std::string type, std::string reason) {
  decision d;
  d.kind = outcome::invalid;
  d.status = 400;
  d.error = error_info{std::move(type), std::move(reason)};
  return d;
}

decision decide(const document_state& doc, const mutation& m,
                int64_t gc_deletes_ms, document_state& next) {
  using kind = document_state::kind;
  const kind seen = effective_kind(doc, m.timestamp, gc_deletes_ms);
  const int64_t current = seen == kind::missing ? missing_version : doc.version;

  // Conflict rules, in the order of semantics.md's table. Compare-and-set
  // comes first, as in InternalEngine.planIndexingAsPrimary and
  // planDeletionAsPrimary (server/src/main/java/org/elasticsearch/index/
  // engine/InternalEngine.java): a deleted document counts as not found, and
  // the reasons are VersionConflictEngineException's (index/engine/
  // VersionConflictEngineException.java): "required seqNo [S], primary term
  // [T]. current document has seqNo [s] and primary term [t]", or "… but no
  // document was found". Validation keeps create and versions away from it.
  if (m.if_seq_no) {
    const std::string required = "required seqNo [" + std::to_string(*m.if_seq_no)
                                 + "], primary term [" + std::to_string(m.if_primary_term)
                                 + "].";
    if (seen != kind::live)
      return conflict(m, current, doc, required + " but no document was found");
    if (doc.seq_no != *m.if_seq_no || doc.primary_term != m.if_primary_term)
      return conflict(m, current, doc,
                      required + " current document has seqNo [" + std::to_string(doc.seq_no)
                        + "] and primary term [" + std::to_string(doc.primary_term) + "]");
  }
  if (m.op == op_type::create) {
    if (seen == kind::live)
      return conflict(m, current, doc, "document already exists (current version "
                                    + bracket(current) + ")");
  } else if (m.vtype == version_type::internal) {
    if (m.version && current != *m.version) {
      if (current == missing_version)
        return conflict(m, current, doc, "document does not exist (expected version "
                                      + bracket(*m.version) + ")");
      return conflict(m, current, doc,
                      "current version " + bracket(current)
                        + " is different than the one provided "
                        + bracket(*m.version));
    }
  } else if (current != missing_version) {
    const int64_t provided = *m.version;
    if (m.vtype == version_type::external && current >= provided)
      return conflict(m, current, doc,
                      "current version " + bracket(current)
                        + " is higher or equal to the one provided "
                        + bracket(provided));
    if (m.vtype == version_type::external_gte && current > provided)
      return conflict(m, current, doc,
                      "current version " + bracket(current)
                        + " is higher than the one provided "
                        + bracket(provided));
  }

  // New version.
  int64_t version;
  if (m.op == op_type::create || m.vtype == version_type::internal) {
    if (current == std::numeric_limits<int64_t>::max())
      return invalid_decision("illegal_argument_exception",
                              "version overflow: current version "
                                + bracket(current)
                                + " is the largest representable version");
    version = current == missing_version ? 1 : current + 1;
  } else {
    version = *m.version;
  }

  decision d;
  d.kind = outcome::applied;
  d.version = version;
  d.current_version = current;
  if (current != missing_version) {
    d.current_seq_no = doc.seq_no;
    d.current_primary_term = doc.primary_term;
  }
  if (m.op == op_type::remove) {
    const bool was_live = seen == kind::live;
    d.status = was_live ? 200 : 404;
    d.result = was_live ? write_result::deleted : write_result::not_found;
    next.state = kind::tombstone;
    next.version = version;
    next.delete_timestamp = m.timestamp;
    next.source.clear();
  } else {
    const bool was_live = seen == kind::live;
    d.status = was_live ? 200 : 201;
    d.result = was_live ? write_result::updated : write_result::created;
    next.state = kind::live;
    next.version = version;
    next.delete_timestamp = 0;
    next.source = m.source;
  }
  return d;
}

} // namespace wcoord

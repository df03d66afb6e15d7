package wcoord.streams;

/**
 * Elasticsearch's optimistic concurrency rules (semantics.md), as wcoord's
 * engine/versioning.cpp decides them: conflicts in the table's order, new
 * versions, results, event-time tombstones.
 */
final class Rules {
  private static final long MISSING_VERSION = -1;

  private Rules() {}

  /** The kind a stored document has at event time `now` (tombstones expire). */
  static byte effectiveKind(DocState doc, long now, long gcDeletesMs) {
    if (doc.kind == DocState.TOMBSTONE) {
      // Math.subtractExact would throw at the int64 edges: compare without overflow.
      long age = now - doc.deleteTimestamp;
      boolean overflow = ((now ^ doc.deleteTimestamp) & (now ^ age)) < 0;
      if (overflow ? now > doc.deleteTimestamp : age > gcDeletesMs)
        return DocState.MISSING;
    }
    return doc.kind;
  }

  /** Decides `m` on `doc`; when applied, `next` holds the new state. */
  static Decision decide(DocState doc, Mutation m, long gcDeletesMs, DocState next) {
    byte seen = effectiveKind(doc, m.timestamp, gcDeletesMs);
    long current = seen == DocState.MISSING ? MISSING_VERSION : doc.version;
    if (m.op == Mutation.Op.CREATE) {
      if (seen == DocState.LIVE)
        return conflict(m, current,
                        "document already exists (current version [" + current + "])");
    } else if (m.versionType == Mutation.VersionType.INTERNAL) {
      if (m.hasVersion && current != m.version) {
        if (current == MISSING_VERSION)
          return conflict(m, current,
                          "document does not exist (expected version [" + m.version + "])");
        return conflict(m, current, "current version [" + current
                                        + "] is different than the one provided ["
                                        + m.version + "]");
      }
    } else if (current != MISSING_VERSION) {
      if (m.versionType == Mutation.VersionType.EXTERNAL && current >= m.version)
        return conflict(m, current, "current version [" + current
                                        + "] is higher or equal to the one provided ["
                                        + m.version + "]");
      if (m.versionType == Mutation.VersionType.EXTERNAL_GTE && current > m.version)
        return conflict(m, current, "current version [" + current
                                        + "] is higher than the one provided [" + m.version
                                        + "]");
    }
    long version;
    if (m.op == Mutation.Op.CREATE || m.versionType == Mutation.VersionType.INTERNAL) {
      if (current == Long.MAX_VALUE)
        return Decision.invalid("illegal_argument_exception",
                                "version overflow: current version [" + current
                                    + "] is the largest representable version");
      version = current == MISSING_VERSION ? 1 : current + 1;
    } else {
      version = m.version;
    }
    Decision d = new Decision();
    d.outcome = Decision.Outcome.APPLIED;
    d.version = version;
    d.currentVersion = current;
    boolean wasLive = seen == DocState.LIVE;
    next.version = version;
    if (m.op == Mutation.Op.DELETE) {
      d.status = wasLive ? 200 : 404;
      d.result = wasLive ? Decision.Result.DELETED : Decision.Result.NOT_FOUND;
      next.kind = DocState.TOMBSTONE;
      next.deleteTimestamp = m.timestamp;
      next.value = null;
      next.sourceLength = 0;
    } else {
      d.status = wasLive ? 200 : 201;
      d.result = wasLive ? Decision.Result.UPDATED : Decision.Result.CREATED;
      next.kind = DocState.LIVE;
      next.deleteTimestamp = 0;
      next.value = m.value;
      next.sourceOffset = m.sourceOffset;
      next.sourceLength = m.sourceLength;
    }
    return d;
  }

  private static Decision conflict(Mutation m, long current, String why) {
    Decision d = new Decision();
    d.outcome = (m.op == Mutation.Op.CREATE || m.versionType == Mutation.VersionType.INTERNAL)
                    ? Decision.Outcome.CONFLICT
                    : Decision.Outcome.STALE;
    d.status = 409;
    d.currentVersion = current;
    d.errorType = "version_conflict_engine_exception";
    d.errorReason = "[" + m.id + "]: version conflict, " + why;
    return d;
  }
}

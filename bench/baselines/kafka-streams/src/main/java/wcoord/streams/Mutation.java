package wcoord.streams;

/** A mutation after parsing (contract.md section 1). */
final class Mutation {
  enum Op {
    INDEX("index"), CREATE("create"), DELETE("delete");

    final String text;

    Op(String text) {
      this.text = text;
    }
  }

  /** external_gt is an alias of external. */
  enum VersionType {
    INTERNAL("internal", "INTERNAL"),
    EXTERNAL("external", "EXTERNAL"),
    EXTERNAL_GTE("external_gte", "EXTERNAL_GTE");

    final String text;
    final String upper;

    VersionType(String text, String upper) {
      this.text = text;
      this.upper = upper;
    }
  }

  Op op = Op.INDEX;
  String index;
  String id = "";
  boolean hasVersion;
  long version;
  VersionType versionType = VersionType.INTERNAL;
  /** The `doc` object as received: value[sourceOffset, sourceOffset + sourceLength). */
  byte[] value;
  int sourceOffset;
  int sourceLength;
  /** Event time, epoch ms: the `timestamp` field, else the record's. */
  long timestamp;
}

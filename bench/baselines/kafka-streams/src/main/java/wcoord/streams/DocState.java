package wcoord.streams;

import java.nio.ByteBuffer;

/**
 * A document as the store keeps it: missing, live(V) with its source, or a
 * tombstone(V) with its delete time; plus the last record decided for it,
 * so that records replayed after a crash (at least once) are neither applied
 * twice nor published again, as wcoord's store remembers them.
 */
final class DocState {
  static final byte MISSING = 0;
  static final byte LIVE = 1;
  static final byte TOMBSTONE = 2;
  private static final int HEADER = 1 + 8 + 8 + 4 + 8;

  byte kind = MISSING;
  long version;
  long deleteTimestamp;
  int lastPartition = -1;
  long lastOffset = -1;
  /** The source bytes: value[sourceOffset, sourceOffset + sourceLength). */
  byte[] value;
  int sourceOffset;
  int sourceLength;

  static DocState decode(byte[] bytes) {
    DocState s = new DocState();
    if (bytes == null)
      return s;
    ByteBuffer b = ByteBuffer.wrap(bytes);
    s.kind = b.get();
    s.version = b.getLong();
    s.deleteTimestamp = b.getLong();
    s.lastPartition = b.getInt();
    s.lastOffset = b.getLong();
    s.value = bytes;
    s.sourceOffset = HEADER;
    s.sourceLength = bytes.length - HEADER;
    return s;
  }

  byte[] encode() {
    int n = kind == LIVE ? sourceLength : 0;
    ByteBuffer b = ByteBuffer.allocate(HEADER + n);
    b.put(kind).putLong(version).putLong(deleteTimestamp).putInt(lastPartition)
        .putLong(lastOffset);
    if (n > 0)
      b.put(value, sourceOffset, n);
    return b.array();
  }
}

package wcoord.streams;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The records wcoord publishes (contract.md section 2), rendered the same
 * way: the changelog record of an applied decision and the dead letter of a
 * conflict or invalid mutation, with their headers. Dead letters are
 * bounded as wcoord bounds them (reason 1 KiB; an original that does not
 * fit is cut to 64 KiB), so no record can stop a partition.
 */
final class Outputs {
  static final int REASON_BYTES = 1024;
  static final int KEPT_ORIGINAL_BYTES = 64 << 10;

  /** Where the decided record came from. */
  static final class Origin {
    String topic;
    int partition;
    long offset;
    long timestamp;
  }

  private final JsonOut out = new JsonOut();
  private final int maxValueBytes;

  Outputs(int maxRecordBytes) {
    // wcoord's output_message_bytes: the largest accepted record plus room
    // for the envelope and headers.
    this.maxValueBytes = maxRecordBytes + (64 << 10) - 4096;
  }

  byte[] changelog(Mutation m, Decision d) {
    out.reset().raw("{\"_index\":").string(m.index).raw(",\"_id\":").string(m.id)
        .raw(",\"_version\":").number(d.version).raw(",\"result\":\"").raw(d.result.text)
        .raw("\",\"timestamp\":").number(m.timestamp);
    if (m.op != Mutation.Op.DELETE)
      out.raw(",\"_source\":").raw(m.value, m.sourceOffset, m.sourceLength);
    return out.raw("}").toBytes();
  }

  static Headers changelogHeaders(Origin o, Headers original) {
    RecordHeaders h = new RecordHeaders();
    h.add("wcoord.source.topic", bytes(o.topic));
    h.add("wcoord.source.partition", bytes(Integer.toString(o.partition)));
    h.add("wcoord.source.offset", bytes(Long.toString(o.offset)));
    copyTraceContext(original, h);
    return h;
  }

  byte[] deadLetter(MutationParser.Result r, Decision d, Origin o, byte[] original) {
    Mutation m = r.m;
    out.reset().raw("{\"status\":").number(d.status).raw(",\"outcome\":\"")
        .raw(d.outcome.text).raw("\",\"error\":{\"type\":").string(d.errorType)
        .raw(",\"reason\":").string(reason(d.errorReason)).raw(",\"index\":").string(m.index)
        .raw(",\"shard\":").string(Integer.toString(o.partition))
        .raw("},\"source\":{\"topic\":").string(o.topic).raw(",\"partition\":")
        .number(o.partition).raw(",\"offset\":").number(o.offset).raw(",\"timestamp\":")
        .number(o.timestamp).raw("},");
    byte[] value = original == null ? new byte[0] : original;
    int room = maxValueBytes - out.size() - 16;
    if (r.validJson && value.length <= room) {
      out.raw("\"mutation\":").raw(value, 0, value.length);
    } else if (value.length * 6 <= room) {
      out.raw("\"mutation\":").string(value, 0, value.length);
    } else {
      int kept = utf8Prefix(value, Math.min(value.length, KEPT_ORIGINAL_BYTES));
      out.raw("\"mutation_truncated\":true,\"mutation_bytes\":").number(value.length)
          .raw(",\"mutation\":").string(value, 0, kept);
    }
    return out.raw("}").toBytes();
  }

  static Headers deadLetterHeaders(Mutation m, Decision d, Origin o, Headers original) {
    RecordHeaders h = new RecordHeaders(original.toArray());
    h.add("__connect.errors.topic", bytes(o.topic));
    h.add("__connect.errors.partition", bytes(Integer.toString(o.partition)));
    h.add("__connect.errors.offset", bytes(Long.toString(o.offset)));
    h.add("__connect.errors.exception.class.name", bytes(d.errorType));
    h.add("__connect.errors.exception.message", bytes(reason(d.errorReason)));
    if (d.outcome != Decision.Outcome.INVALID) {
      h.add("wcoord.conflict.current_version", bytes(Long.toString(d.currentVersion)));
      h.add("wcoord.conflict.provided_version",
            bytes(m.hasVersion ? Long.toString(m.version) : ""));
      h.add("wcoord.conflict.version_type", bytes(m.versionType.text));
    }
    return h;
  }

  private static void copyTraceContext(Headers from, Headers to) {
    for (Header x : from) {
      String k = x.key();
      if ((k.equals("traceparent") || k.equals("tracestate")) && x.value() != null
          && x.value().length <= 4096)
        to.add(k, x.value());
    }
  }

  private static String reason(String r) {
    if (r.length() <= REASON_BYTES / 4)
      return r; // at most 4 bytes a character: surely within the bound
    byte[] b = bytes(r);
    if (b.length <= REASON_BYTES)
      return r;
    return new String(b, 0, utf8Prefix(b, REASON_BYTES), StandardCharsets.UTF_8) + "...";
  }

  /** The longest prefix of at most n bytes that does not cut a UTF-8 sequence. */
  private static int utf8Prefix(byte[] b, int n) {
    while (n > 0 && n < b.length && (b[n] & 0xc0) == 0x80)
      --n;
    return n;
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}

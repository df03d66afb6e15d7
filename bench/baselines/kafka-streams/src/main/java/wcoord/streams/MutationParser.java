package wcoord.streams;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Reads and validates a mutation as wcoord's engine/mutation_parser.cpp does:
 * the whole value must be JSON (duplicate keys refused anywhere, as
 * Elasticsearch's strict duplicate detection does), then the checks of
 * semantics.md in their order, the first failure answering. Streaming
 * (no tree): `doc` is kept as the byte range it occupies in the value.
 */
final class MutationParser {
  static final int MAX_ID_BYTES = 512;

  private static final JsonFactory STRICT = JsonFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(256).build())
      .build();
  private static final JsonFactory LENIENT = new JsonFactory();

  static final class Result {
    final Mutation m = new Mutation();
    /** Null when the mutation is valid. */
    Decision invalid;
    /** The value was a JSON object whose fields could be read. */
    boolean parsed = true;
    boolean hasId;
    /** The whole value is one JSON text (dead letters embed it as JSON). */
    boolean validJson = true;
  }

  private enum Field { ABSENT, OK, WRONG_TYPE }

  /** The fields as read, validated afterwards in semantics.md's order. */
  private static final class Raw {
    Field op = Field.ABSENT;
    String opText;
    Field versionType = Field.ABSENT;
    String versionTypeText;
    Field id = Field.ABSENT;
    Field index = Field.ABSENT;
    Field version = Field.ABSENT;
    String versionText;
    Field doc = Field.ABSENT;
    Field timestamp = Field.ABSENT;
  }

  Result parse(byte[] value, String key, String defaultIndex, long recordTimestamp,
               int maxBytes) {
    Result r = new Result();
    Mutation m = r.m;
    m.index = defaultIndex;
    m.timestamp = recordTimestamp;
    m.value = value;
    if (value == null)
      value = new byte[0];
    if (value.length > maxBytes)
      return failParse(r, "record of " + value.length + " bytes exceeds the limit of "
                              + maxBytes + " bytes", "parse_exception", false);
    Raw f = new Raw();
    try (JsonParser p = STRICT.createParser(value)) {
      JsonToken t = p.nextToken();
      if (t != JsonToken.START_OBJECT) {
        boolean json = t != null && skipsToEnd(p);
        return failParse(r, "record value is not a JSON object", "parse_exception", json);
      }
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        t = p.nextToken();
        switch (name) {
          case "op":
            f.op = readString(p, t);
            f.opText = p.getText();
            break;
          case "version_type":
            f.versionType = readString(p, t);
            f.versionTypeText = p.getText();
            break;
          case "id":
            f.id = readString(p, t);
            m.id = f.id == Field.OK ? p.getText() : "";
            break;
          case "index":
            f.index = readString(p, t);
            if (f.index == Field.OK)
              m.index = p.getText();
            break;
          case "version":
          case "timestamp": {
            boolean isVersion = name.equals("version");
            Field state;
            if (t == JsonToken.VALUE_NUMBER_INT
                && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
              state = Field.OK;
              if (isVersion) {
                m.hasVersion = true;
                m.version = p.getLongValue();
              } else {
                m.timestamp = p.getLongValue();
              }
            } else {
              state = Field.WRONG_TYPE;
            }
            if (isVersion) {
              f.version = state;
              f.versionText = tokenText(p, t);
            } else {
              f.timestamp = state;
            }
            p.skipChildren();
            break;
          }
          case "doc":
            if (t == JsonToken.START_OBJECT) {
              long begin = p.currentTokenLocation().getByteOffset();
              p.skipChildren(); // now at its END_OBJECT
              long end = p.currentTokenLocation().getByteOffset() + 1;
              m.sourceOffset = (int) begin;
              m.sourceLength = (int) (end - begin);
              f.doc = Field.OK;
            } else {
              f.doc = Field.WRONG_TYPE;
              p.skipChildren();
            }
            break;
          default:
            p.skipChildren(); // ignored, but must be valid JSON
        }
      }
      if (t != JsonToken.END_OBJECT)
        return failParse(r, "failed to parse JSON: unexpected " + t, "parse_exception", false);
      if (p.nextToken() != null)
        return failParse(r, "failed to parse JSON: trailing content after the object",
                         "parse_exception", false);
    } catch (JsonProcessingException e) {
      String msg = e.getOriginalMessage();
      if (msg != null && msg.startsWith("Duplicate field")) {
        String where = "[" + e.getLocation().getLineNr() + ":" + e.getLocation().getColumnNr()
                       + "] ";
        return failParse(r, where + msg, "x_content_parse_exception", isJson(value));
      }
      return failParse(r, "failed to parse JSON: " + msg, "parse_exception", false);
    } catch (IOException e) {
      return failParse(r, "failed to parse: " + e.getMessage(), "parse_exception", false);
    }
    return validate(r, f, key);
  }

  private static Result validate(Result r, Raw f, String key) {
    Mutation m = r.m;
    if (f.op == Field.OK) {
      switch (f.opText) {
        case "index": m.op = Mutation.Op.INDEX; break;
        case "create": m.op = Mutation.Op.CREATE; break;
        case "delete": m.op = Mutation.Op.DELETE; break;
        default: break;
      }
    }
    r.hasId = f.id == Field.OK;
    if (f.op == Field.WRONG_TYPE || (f.op == Field.OK && !f.opText.equals("index")
                                      && !f.opText.equals("create")
                                      && !f.opText.equals("delete")))
      return fail(r, "illegal_argument_exception",
                  "unknown op [" + f.opText + "], expected one of [index, create, delete]");
    if (f.versionType != Field.ABSENT) {
      String x = f.versionTypeText;
      if (f.versionType == Field.WRONG_TYPE)
        return fail(r, "illegal_argument_exception", "No version type match [" + x + "]");
      switch (x) {
        case "internal": m.versionType = Mutation.VersionType.INTERNAL; break;
        case "external":
        case "external_gt": m.versionType = Mutation.VersionType.EXTERNAL; break;
        case "external_gte": m.versionType = Mutation.VersionType.EXTERNAL_GTE; break;
        default:
          return fail(r, "illegal_argument_exception", "No version type match [" + x + "]");
      }
    }
    if (f.id != Field.OK || m.id.isEmpty())
      return fail(r, "action_request_validation_exception", "id is missing");
    if (f.version == Field.WRONG_TYPE)
      return fail(r, "illegal_argument_exception",
                  "version must be an integer in the int64 range, found [" + f.versionText
                      + "]");
    if (m.op == Mutation.Op.CREATE && m.versionType != Mutation.VersionType.INTERNAL)
      return fail(r, "action_request_validation_exception",
                  "create operations only support internal versioning. use index instead");
    if (m.op == Mutation.Op.CREATE && m.hasVersion)
      return fail(r, "action_request_validation_exception",
                  "create operations do not support explicit versions. use index instead");
    boolean bad = m.versionType == Mutation.VersionType.INTERNAL
                      ? (m.hasVersion && m.version <= 0)
                      : (!m.hasVersion || m.version < 0);
    if (bad)
      return fail(r, "action_request_validation_exception",
                  "illegal version value [" + (m.hasVersion ? m.version : -3)
                      + "] for version type [" + m.versionType.upper + "]");
    if (m.op != Mutation.Op.DELETE && f.doc != Field.OK)
      return fail(r, "action_request_validation_exception", "source is missing");
    int idBytes = m.id.getBytes(StandardCharsets.UTF_8).length;
    if (idBytes > MAX_ID_BYTES)
      return fail(r, "action_request_validation_exception",
                  "id [" + m.id + "] is too long, must be no longer than 512 bytes but was: "
                      + idBytes);
    if (f.index == Field.WRONG_TYPE || m.index.isEmpty())
      return fail(r, "illegal_argument_exception", "index must be a non-empty string");
    if (f.timestamp == Field.WRONG_TYPE)
      return fail(r, "illegal_argument_exception",
                  "timestamp must be an integer (epoch milliseconds)");
    if (key != null && !key.equals(m.id))
      return fail(r, "illegal_argument_exception",
                  "record key [" + prefix(key, 64) + "] does not match the id ["
                      + prefix(m.id, 64) + "]");
    return r;
  }

  private static Field readString(JsonParser p, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_STRING)
      return Field.OK;
    p.skipChildren();
    return Field.WRONG_TYPE;
  }

  private static String tokenText(JsonParser p, JsonToken t) throws IOException {
    String s = t.isScalarValue() ? p.getText() : t.asString();
    return s.length() > 64 ? s.substring(0, 64) + "..." : s;
  }

  private static Result fail(Result r, String type, String message) {
    r.invalid = Decision.validationFailure(type, message);
    return r;
  }

  /** Nothing read from an unparseable value is trustworthy. */
  private static Result failParse(Result r, String reason, String type, boolean validJson) {
    Mutation m = r.m;
    m.op = Mutation.Op.INDEX;
    m.id = "";
    m.hasVersion = false;
    m.versionType = Mutation.VersionType.INTERNAL;
    r.parsed = false;
    r.hasId = false;
    r.validJson = validJson;
    r.invalid = Decision.invalid(type, reason);
    return r;
  }

  private static boolean skipsToEnd(JsonParser p) throws IOException {
    p.skipChildren();
    return p.nextToken() == null;
  }

  /** JSON grammar only (duplicate keys allowed), as wcoord's dead letters decide. */
  private static boolean isJson(byte[] value) {
    try (JsonParser p = LENIENT.createParser(value)) {
      JsonToken t = p.nextToken();
      return t != null && skipsToEnd(p);
    } catch (IOException e) {
      return false;
    }
  }

  private static String prefix(String s, int n) {
    return s.length() > n ? s.substring(0, n) : s;
  }
}

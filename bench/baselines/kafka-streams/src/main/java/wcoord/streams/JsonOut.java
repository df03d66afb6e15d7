package wcoord.streams;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growing byte buffer that writes JSON as wcoord's engine/json_writer.cpp does. */
final class JsonOut {
  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  private byte[] buf = new byte[512];
  private int len;

  JsonOut reset() {
    len = 0;
    return this;
  }

  byte[] toBytes() {
    return Arrays.copyOf(buf, len);
  }

  int size() {
    return len;
  }

  private void room(int n) {
    if (len + n > buf.length)
      buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
  }

  JsonOut raw(String ascii) {
    int n = ascii.length();
    room(n);
    for (int i = 0; i < n; ++i)
      buf[len++] = (byte) ascii.charAt(i);
    return this;
  }

  JsonOut raw(byte[] b, int off, int n) {
    room(n);
    System.arraycopy(b, off, buf, len, n);
    len += n;
    return this;
  }

  JsonOut number(long v) {
    return raw(Long.toString(v));
  }

  JsonOut string(String s) {
    return string(s.getBytes(StandardCharsets.UTF_8), 0, -1);
  }

  /** A JSON string of the UTF-8 bytes b[off, off + n) (n &lt; 0: to the end). */
  JsonOut string(byte[] b, int off, int n) {
    int end = n < 0 ? b.length : off + n;
    room(end - off + 2);
    buf[len++] = '"';
    for (int i = off; i < end; ++i) {
      int c = b[i] & 0xff;
      if (c >= 0x20 && c != '"' && c != '\\') {
        buf[len++] = (byte) c; // UTF-8 passes through (the parser checked it)
        continue;
      }
      room(6 + end - i);
      buf[len++] = '\\';
      switch (c) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '\n': buf[len++] = 'n'; break;
        case '\r': buf[len++] = 'r'; break;
        case '\t': buf[len++] = 't'; break;
        case '\b': buf[len++] = 'b'; break;
        case '\f': buf[len++] = 'f'; break;
        default:
          buf[len++] = 'u';
          buf[len++] = '0';
          buf[len++] = '0';
          buf[len++] = HEX[c >> 4];
          buf[len++] = HEX[c & 0xf];
      }
    }
    room(1);
    buf[len++] = '"';
    return this;
  }
}

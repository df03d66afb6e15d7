package wcoord.streams;

/** What the processor needs from the command line. */
final class Settings {
  String defaultIndex = "";
  long gcDeletesMs = 24L * 3600 * 1000;
  int maxRecordBytes = 1 << 20;
}

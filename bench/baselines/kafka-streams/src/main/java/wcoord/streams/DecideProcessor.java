package wcoord.streams;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Decides each mutation of its task's partition in offset order against
 * the document's state in the task's RocksDB store, and forwards the
 * changelog record or dead letter wcoord would publish. Stale writes are
 * dropped (wcoord's default behavior.on.stale.version=ignore).
 */
final class DecideProcessor implements Processor<byte[], byte[], byte[], Out> {
  static final String STORE = "documents";
  static final String CHANGELOG_SINK = "changelog";
  static final String DEADLETTER_SINK = "deadletters";

  private final Settings settings;
  private final MutationParser parser = new MutationParser();
  private final Outputs outputs;
  private final Outputs.Origin origin = new Outputs.Origin();
  private ProcessorContext<byte[], Out> context;
  private KeyValueStore<String, byte[]> store;

  DecideProcessor(Settings settings) {
    this.settings = settings;
    this.outputs = new Outputs(settings.maxRecordBytes);
  }

  @Override
  public void init(ProcessorContext<byte[], Out> context) {
    this.context = context;
    this.store = context.getStateStore(STORE);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata md = context.recordMetadata().orElseThrow();
    origin.topic = md.topic();
    origin.partition = md.partition();
    origin.offset = md.offset();
    origin.timestamp = record.timestamp();
    String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
    String defaultIndex = settings.defaultIndex.isEmpty() ? md.topic() : settings.defaultIndex;
    MutationParser.Result r =
        parser.parse(record.value(), key, defaultIndex, record.timestamp(), settings.maxRecordBytes);
    if (r.invalid != null) {
      deadLetter(record, r, r.invalid);
      return;
    }
    Mutation m = r.m;
    String docKey = m.index + "/" + m.id;
    DocState current = DocState.decode(store.get(docKey));
    if (current.lastPartition == origin.partition && current.lastOffset >= origin.offset)
      return; // decided (and published) before a restart
    DocState next = new DocState();
    Decision d = Rules.decide(current, m, settings.gcDeletesMs, next);
    DocState written = d.outcome == Decision.Outcome.APPLIED ? next : current;
    // Every decision writes: the replay marker moves even when the document does not.
    written.lastPartition = origin.partition;
    written.lastOffset = origin.offset;
    if (written.kind == DocState.MISSING)
      written.deleteTimestamp = m.timestamp; // a marker expires like a tombstone
    store.put(docKey, written.encode());
    switch (d.outcome) {
      case APPLIED:
        context.forward(new Record<>(docKey.getBytes(StandardCharsets.UTF_8),
                                     new Out(origin.partition, outputs.changelog(m, d)),
                                     record.timestamp(),
                                     Outputs.changelogHeaders(origin, record.headers())),
                        CHANGELOG_SINK);
        break;
      case CONFLICT:
        deadLetter(record, r, d);
        break;
      default:
        break;
    }
  }

  private void deadLetter(Record<byte[], byte[]> record, MutationParser.Result r, Decision d) {
    byte[] value = outputs.deadLetter(r, d, origin, record.value());
    context.forward(new Record<>(record.key(), new Out(-1, value), record.timestamp(),
                                 Outputs.deadLetterHeaders(r.m, d, origin, record.headers())),
                    DEADLETTER_SINK);
  }
}

package wcoord.streams;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * wcoord's job as a Kafka Streams application: mutations in, one decision
 * per mutation by Elasticsearch's rules against a RocksDB store, changelog
 * records and dead letters out.
 *
 * <pre>
 * java -jar wcoord-streams.jar --bootstrap-servers HOST:PORT --input TOPIC \
 *   --application-id ID --changelog TOPIC --dlq TOPIC --state-dir DIR \
 *   [--guarantee at_least_once|exactly_once_v2] [--threads N] [--commit-interval-ms MS] \
 *   [--cache-bytes N] [--gc-deletes-ms MS] [--default-index NAME] [--set key=value]...
 * </pre>
 *
 * Prints "wcoord-streams: RUNNING" whenever the instance starts running
 * (after the group assigned its partitions); SIGTERM closes it cleanly.
 */
public final class Main {
  private Main() {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    Properties extra = new Properties();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      if (argv[i].equals("--set")) {
        String[] kv = argv[i + 1].split("=", 2);
        extra.put(kv[0], kv.length > 1 ? kv[1] : "");
      } else {
        a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
      }
    }
    for (String k : new String[] {"bootstrap-servers", "input", "application-id", "changelog",
                                  "dlq", "state-dir"})
      if (!a.containsKey(k))
        usage("missing --" + k);

    Settings settings = new Settings();
    settings.defaultIndex = a.getOrDefault("default-index", "");
    settings.gcDeletesMs = Long.parseLong(a.getOrDefault("gc-deletes-ms", "86400000"));

    Topology t = new Topology();
    t.addSource("mutations", new ByteArrayDeserializer(), new ByteArrayDeserializer(),
                a.get("input"));
    t.addProcessor("decide", () -> new DecideProcessor(settings), "mutations");
    t.addStateStore(Stores.keyValueStoreBuilder(
                        Stores.persistentKeyValueStore(DecideProcessor.STORE),
                        Serdes.String(), Serdes.ByteArray()),
                    "decide");
    t.addSink(DecideProcessor.CHANGELOG_SINK, a.get("changelog"), new ByteArraySerializer(),
              Out.SERIALIZER, Out.SOURCE_PARTITION, "decide");
    t.addSink(DecideProcessor.DEADLETTER_SINK, a.get("dlq"), new ByteArraySerializer(),
              Out.SERIALIZER, "decide");

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("application-id"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap-servers"));
    p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
          a.getOrDefault("guarantee", StreamsConfig.AT_LEAST_ONCE));
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.getOrDefault("threads", "2"));
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.getOrDefault("commit-interval-ms", "1000"));
    // The record cache in front of RocksDB: repeated writes of a hot
    // document between commits reach the store and its changelog once.
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
          a.getOrDefault("cache-bytes", Long.toString(64L << 20)));
    p.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedMemoryRocksDB.class);
    // The producer settings wcoord uses (idempotent, acks=all, linger 5 ms)
    // and room for a changelog record around the largest accepted document.
    p.put(StreamsConfig.producerPrefix(ProducerConfig.ACKS_CONFIG), "all");
    p.put(StreamsConfig.producerPrefix(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG), "true");
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "5");
    p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG),
          Integer.toString(settings.maxRecordBytes + (64 << 10)));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    p.putAll(extra);

    KafkaStreams streams = new KafkaStreams(t, p);
    CountDownLatch done = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING)
        System.out.println("wcoord-streams: RUNNING");
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)
        done.countDown();
      System.out.flush();
    });
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("wcoord-streams: stream thread failed: " + e);
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      done.countDown();
    }));
    streams.start();
    done.await();
    boolean failed = streams.state() == KafkaStreams.State.ERROR;
    streams.close(Duration.ofSeconds(30));
    System.exit(failed ? 1 : 0);
  }

  private static void usage(String why) {
    System.err.println("wcoord-streams: " + why);
    System.exit(2);
  }
}

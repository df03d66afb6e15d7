package wcoord.streams;

import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.processor.StreamPartitioner;

/**
 * An output value with the partition it must go to: changelog records go to
 * their source partition (co-partitioned with the input, contract.md), which
 * a sink's partitioner cannot know from key and value bytes alone.
 */
record Out(int partition, byte[] bytes) {
  static final Serializer<Out> SERIALIZER = (topic, out) -> out == null ? null : out.bytes();

  /** The source partition; -1 (by key, as the producer would) when unknown. */
  static final StreamPartitioner<byte[], Out> SOURCE_PARTITION =
      (topic, key, out, partitions) -> out.partition() >= 0 ? out.partition() : null;
}

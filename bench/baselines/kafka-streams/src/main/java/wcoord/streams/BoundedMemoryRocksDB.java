package wcoord.streams;

import java.util.Map;
import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Cache;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.WriteBufferManager;

/**
 * Kafka Streams' documented recipe for bounding RocksDB memory: one block
 * cache and one write buffer manager shared by every store instance of the
 * process (by default each task's store has its own 50 MiB cache and
 * 3 x 16 MiB memtables). Sized like wcoord's defaults: 64 MiB cache,
 * 32 MiB of memtables.
 */
public final class BoundedMemoryRocksDB implements RocksDBConfigSetter {
  static long cacheBytes = 64L << 20;
  static long writeBufferBytes = 32L << 20;
  private static Cache cache;
  private static WriteBufferManager writeBuffers;

  private static synchronized void init() {
    if (cache == null) {
      cache = new LRUCache(cacheBytes + writeBufferBytes, -1, false, 0.1);
      writeBuffers = new WriteBufferManager(writeBufferBytes, cache);
    }
  }

  @Override
  public void setConfig(String storeName, Options options, Map<String, Object> configs) {
    init();
    BlockBasedTableConfig table = (BlockBasedTableConfig) options.tableFormatConfig();
    table.setBlockCache(cache);
    table.setCacheIndexAndFilterBlocks(true);
    table.setPinTopLevelIndexAndFilter(true);
    options.setWriteBufferManager(writeBuffers);
    options.setTableFormatConfig(table);
  }

  @Override
  public void close(String storeName, Options options) {
    // The cache and the manager are shared: they live as long as the process.
  }
}

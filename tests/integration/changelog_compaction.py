#!/usr/bin/env python3
"""Restore after real log compaction (issue 9). The changelog key names the
index and the id (`<index>/<id>`), so compaction keeps the latest record of
every *document*: one id in two indexes is two documents, and both survive.
Keyed by the id alone, compaction kept only one of them, and an instance
rebuilding its state from the changelog lost the other.

The changelog is created before wcoord starts, with a cleaner that compacts
as soon as it can (tiny segments, any dirty ratio); the test waits until the
broker has really compacted it, then a second instance with an empty state
directory restores from it: both documents, with their versions and pairs.
Last, a changelog record written before records carried their pair
restores with the pair of its source offset."""
import json
import re
import shutil
import sys
import tempfile

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import (BOOTSTRAP, Coordinator, check, create_topic, finish, group_lag, produce,
                     read_topic, store_pairs, store_versions, unique, wait_until)

WCOORD = sys.argv[1]
topic, group = unique("compact"), unique("compact")
changelog = group + ".changelog"
create_topic(topic, 2)
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
# Segments of 4 KiB (wcoord's producer batches are kept below that) and any
# dirty ratio: the cleaner compacts all but the active segment at once.
aggressive = {"cleanup.policy": "compact", "segment.bytes": "4096", "segment.ms": "100",
              "min.cleanable.dirty.ratio": "0.001", "min.compaction.lag.ms": "0",
              "delete.retention.ms": "100"}
for f in admin.create_topics([NewTopic(changelog, num_partitions=2, replication_factor=1,
                                       config=aggressive)]).values():
    f.result(30)


def record(index, doc_id, **fields):
    return doc_id.encode(), json.dumps(dict(fields, index=index, id=doc_id)).encode()


# One id in two indexes, each written once and first; then many overwrites
# of a few other documents, which fill segment after segment of garbage for
# the cleaner (and keep the first records out of the active segment).
twins = [record("a", "x", version_type="external", version=5, doc={"in": "a"}),
         record("b", "x", version_type="external", version=7, doc={"in": "b"})]
churn = [record("c", "k%d" % (n % 10), doc={"n": n, "pad": "p" * 200}) for n in range(3000)]
produce(topic, twins + churn)

state_a, state_b = tempfile.mkdtemp(), tempfile.mkdtemp()
try:
    a = Coordinator(WCOORD, group, topic, state_a, extra=("--set", "kafka.batch.size=2048"))
    a.wait_assigned()
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 120, "A decided everything")
    a.stop()
    # Every record was applied, so the changelog got one record each; the
    # cleaner (every log.cleaner.backoff.ms, 15 s by default, and often
    # already while A ran) leaves far fewer.
    applied = len(twins) + len(churn)

    def compacted():
        left = sum(len(v) for v in read_topic(changelog, timeout=60).values())
        return left < applied // 2
    wait_until(compacted, 240, "the broker compacted the changelog", interval=2)
    left = read_topic(changelog, timeout=60)
    keys = [m.key().decode() for msgs in left.values() for m in msgs]
    check("a/x" in keys and "b/x" in keys, "both documents kept their changelog record")
    print("changelog: %d records compacted to %d" % (applied, len(keys)))

    # A new instance with an empty state directory rebuilds from it.
    b = Coordinator(WCOORD, group, topic, state_b)
    wait_until(lambda: sum(1 for l in b.lines if re.search(r"restored \d+ changelog record", l))
               >= 2, 120, "B restored both partitions")
    b.stop()
    docs = [("a", "x"), ("b", "x")]
    versions = store_versions(WCOORD, state_b, docs)
    check(versions == {("a", "x"): 5, ("b", "x"): 7},
          "both documents restored from the compacted changelog: %r" % versions)
    pairs = store_pairs(WCOORD, state_b, docs)
    source = {}
    for msgs in read_topic(topic, timeout=60).values():
        for m in msgs[:2]:
            v = json.loads(m.value())
            if v["id"] == "x":
                source[(v["index"], "x")] = (m.offset(), 1)
    check(pairs == source, "restored with the pairs of their writes: %r (want %r)"
          % (pairs, source))
finally:
    shutil.rmtree(state_a, ignore_errors=True)
    shutil.rmtree(state_b, ignore_errors=True)

# A changelog written before records carried their pair (and keyed by the
# id): the restore gives such a document the pair `run` gives now, the
# source offset of its write.
old_topic, old_group = unique("legacy"), unique("legacy")
create_topic(old_topic, 1)
produce(old_topic, [record("legacy", "n%d" % i, doc={}) for i in range(5)])
create_topic(old_group + ".changelog", 1)
p = Producer({"bootstrap.servers": BOOTSTRAP})
p.produce(old_group + ".changelog", key=b"old", partition=0,
          value=json.dumps({"_index": "legacy", "_id": "old", "_version": 4, "result": "updated",
                            "timestamp": 1, "_source": {"v": 4}}).encode(),
          headers=[("wcoord.source.topic", old_topic.encode()),
                   ("wcoord.source.partition", b"0"), ("wcoord.source.offset", b"3")])
p.flush(30)
# The group's work is committed past it, so the restore trusts the record.
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": old_group})
c.commit(offsets=[TopicPartition(old_topic, 0, 5)], asynchronous=False)
c.close()
state_c = tempfile.mkdtemp()
try:
    legacy = Coordinator(WCOORD, old_group, old_topic, state_c)
    wait_until(lambda: legacy.saw(r"restored 1 changelog record"), 120, "the old record restored")
    legacy.stop()
    got = store_pairs(WCOORD, state_c, [("legacy", "old")])
    check(got == {("legacy", "old"): (3, 1)},
          "a record without a pair restores with its source offset's: %r" % got)
finally:
    shutil.rmtree(state_c, ignore_errors=True)
finish()

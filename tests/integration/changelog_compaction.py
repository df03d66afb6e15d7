#!/usr/bin/env python3
"""Restore after real log compaction (issue 9). The changelog key names the
index and the id (`<index>/<id>`), so compaction keeps the latest record of
every *document*: one id in two indexes is two documents, and both survive.
Keyed by the id alone, compaction kept only one of them, and an instance
rebuilding its state from the changelog lost the other.

The changelog is created before wcoord starts, with a cleaner that compacts
as soon as it can (tiny segments, any dirty ratio); the test waits until the
broker has really compacted it, then a second instance with an empty state
directory restores from it: both documents, with their versions and pairs."""
import json
import re
import shutil
import sys
import tempfile

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
finish()

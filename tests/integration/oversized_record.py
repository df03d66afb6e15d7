#!/usr/bin/env python3
"""A record larger than max.record.bytes is dead-lettered (its original cut
so the dead letter fits in a Kafka record) and the partition moves on; an
accepted document near the limit still fits in the changelog.

Then the same with a dead-letter topic created elsewhere, smaller than
wcoord would make it (max.message.bytes 100000): a warning says so, every
dead letter is cut to fit that topic (alone and in producer batches), and
the partition moves on."""
import json
import shutil
import sys
import tempfile

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import (BOOTSTRAP, Coordinator, check, finish, group_lag, read_topic, unique,
                     wait_until)

WCOORD = sys.argv[1]
topic, group = unique("big"), unique("big")
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for f in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                       config={"max.message.bytes": str(8 << 20)})]).values():
    f.result(30)
huge = json.dumps({"id": "big", "doc": {"blob": "x" * (3 << 20)}}).encode()
near = json.dumps({"id": "near", "doc": {"blob": "y" * ((1 << 20) - 100)}}).encode()
after = json.dumps({"id": "after", "doc": {"n": 1}}).encode()
prod = Producer({"bootstrap.servers": BOOTSTRAP, "message.max.bytes": 16 << 20})
for k, v in ((b"big", huge), (b"near", near), (b"after", after)):
    prod.produce(topic, key=k, value=v)
check(prod.flush(30) == 0, "fixture produced")
state = tempfile.mkdtemp()
try:
    c = Coordinator(WCOORD, group, topic, state)
    c.wait_assigned()
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 60, "lag 0 past the huge record")
    check(c.proc.poll() is None, "the coordinator is still running")
    c.stop()
    dead = [m for ms in read_topic(group + ".dlq").values() for m in ms]
    check(len(dead) == 1, "one dead letter (%d)" % len(dead))
    if dead:
        v = json.loads(dead[0].value())
        check(v["status"] == 400 and v["outcome"] == "invalid", "invalid: %s" % v.get("error"))
        check(isinstance(v["mutation"], str) and 0 < len(v["mutation"]) <= 64 << 10,
              "original cut to at most 64 KiB, as a string")
        check(len(dead[0].value()) < (1 << 20) + (64 << 10), "dead letter fits the output topic")
    applied = sorted(json.loads(m.value())["_id"] for ms in read_topic(group + ".changelog").values()
                     for m in ms)
    check(applied == ["after", "near"], "near-limit and later documents applied: %s" % applied)
finally:
    shutil.rmtree(state, ignore_errors=True)

# ------------------------------------------ a dead-letter topic made smaller
SMALL = 100000
topic, group = unique("smalldlq"), unique("smalldlq")
for f in admin.create_topics([
        NewTopic(topic, num_partitions=1, replication_factor=1),
        NewTopic(group + ".dlq", num_partitions=1, replication_factor=1,
                 config={"max.message.bytes": str(SMALL)})]).values():
    f.result(30)
# 300 KB of 0xFF, within the input topic's default limit: each is invalid
# and its escaped original would be ~6 times larger.
bad = [(b"bad-%d" % i, b"\xff" * (300 << 10)) for i in range(6)]
good = [(b"ok-%d" % i, json.dumps({"id": "ok-%d" % i, "doc": {"n": i}}).encode())
        for i in range(6)]
records = [r for pair in zip(bad, good) for r in pair]
for k, v in records:
    prod.produce(topic, key=k, value=v)
check(prod.flush(30) == 0, "small-DLQ fixture produced")
state = tempfile.mkdtemp()
try:
    c = Coordinator(WCOORD, group, topic, state)
    c.wait_assigned()
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0 or c.proc.poll() is not None,
               60, "lag 0 past the records whose dead letters exceed the topic")
    check(c.proc.poll() is None, "the coordinator is still running (small dead-letter topic)")
    check(c.saw(r"topic %s\.dlq takes records of at most %d bytes" % (group, SMALL)),
          "a warning names the small dead-letter topic")
    c.stop()
    dead = [m for ms in read_topic(group + ".dlq").values() for m in ms]
    check(len(dead) == len(bad), "a dead letter per bad record (%d of %d)" % (len(dead), len(bad)))
    check(all(len(m.value()) < SMALL for m in dead), "every dead letter fits %d bytes (%s)"
          % (SMALL, sorted(len(m.value()) for m in dead)))
    applied = sorted(json.loads(m.value())["_id"] for ms in read_topic(group + ".changelog").values()
                     for m in ms)
    check(applied == sorted(k.decode() for k, _ in good), "good records applied: %s" % applied)
finally:
    shutil.rmtree(state, ignore_errors=True)
finish()

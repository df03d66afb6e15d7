#!/usr/bin/env python3
"""Change data capture from a real database (issue 11): PostgreSQL from
Debian, Debezium's PostgreSQL connector in Kafka Connect standalone (Kafka
3.9), the test broker, and `wcoord run` with input.format=debezium. None of
the stack but wcoord is written here (tests/integration/cdc_stack.py).

* Snapshot plus streaming: a table of 3000 rows; connector A snapshots it
  while four client sessions insert, update (some rows twice in one
  transaction, some transactions over several rows) and delete. At lag 0
  the changelog's final state per (index, id) equals SELECT * (deleted
  rows tombstoned), every changelog version is the LSN of one of the row's
  change events with that event's row, and each document's versions only
  grow along the changelog.
* Two sources racing: connector B on the same table into a second topic
  that the same wcoord reads, started later (a lagging replica: its
  snapshot, then its stream), with the schema wrapper on its values, while
  the sessions write again: nothing goes back in time, the final state
  equals the table.
* Replays: connector A is replaced by one without offsets on the same slot
  (Debezium does not flush the slot, so it re-streams everything since the
  slot was made): every re-emitted event is decided stale, the changelog
  gets nothing from them, the final state still equals the table.
* Malformed and edge events, on a second wcoord that versions by a row
  column and also reads a plain mutation topic (input.format.<topic>): a
  NULL version column, a table without a primary key and a truncate are
  dead letters naming the field, and their partitions go on (a later
  change of the same row is applied); Kafka tombstones are skipped and
  counted, never dead-lettered.

Writers are idle while a connector creates its replication slot: a
transaction open across a snapshot's start is streamed with LSNs below the
snapshot's, which source.lsn versioning would decide stale (README, "Change
data capture"). Every wait is for a condition; nothing sleeps to
synchronize.

`--guarantee exactly_once` runs both wcoord instances with exactly once
(the suite runs at_least_once); `DEBEZIUM_VERSION` picks another connector
version (scripts/debezium)."""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

import psycopg2
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cdc_stack import ConnectWorker, Postgres, postgres_connector
from harness import (BOOTSTRAP, Coordinator, check, create_topic, failures, finish, group_lag,
                     headers_of, http_base, http_fetch, metric_samples, read_topic, unique,
                     wait_until)

args = argparse.ArgumentParser()
args.add_argument("wcoord")
args.add_argument("--guarantee", default="at_least_once", choices=["at_least_once", "exactly_once"])
args = args.parse_args()
WCOORD = args.wcoord
GUARANTEE = ["--set", "processing.guarantee=" + args.guarantee]
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "29092"))
ROWS = 3000
SESSIONS = 4
t0 = time.monotonic()


def say(what):
    print("[%5.1fs] %s" % (time.monotonic() - t0, what), flush=True)


def unwrap(obj):
    """The payload of Kafka Connect's schema wrapper, else the object."""
    if isinstance(obj, dict) and set(obj) == {"schema", "payload"}:
        return obj["payload"]
    return obj


class TopicTail:
    """Every record of a topic so far, read incrementally."""

    def __init__(self, topic):
        self.topic = topic
        self.c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": unique("tail"),
                           "enable.auto.commit": False, "enable.partition.eof": True})
        parts = sorted(self.c.list_topics(topic, timeout=10).topics[topic].partitions)
        self.c.assign([TopicPartition(topic, p, 0) for p in parts])
        self.parts = parts
        self.records = []
        # Where each partition's reading has got to: past its last record,
        # or the end reported by an end-of-partition event, which also
        # covers the transaction markers (exactly once) never delivered.
        self.reached = {p: 0 for p in parts}

    def catch_up(self, timeout=30):
        ends = {p: self.c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                for p in self.parts}
        deadline = time.monotonic() + timeout
        while any(self.reached[p] < ends[p] for p in self.parts) and time.monotonic() < deadline:
            m = self.c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    self.reached[m.partition()] = max(self.reached[m.partition()], m.offset())
                continue
            self.records.append(m)
            self.reached[m.partition()] = max(self.reached[m.partition()], m.offset() + 1)
        return self.records

    def close(self):
        self.c.close()


def final_state(records, index):
    """Per id, the last changelog source of `index` (None: tombstoned)."""
    state = {}
    for m in records:
        v = json.loads(m.value())
        if v["_index"] == index:
            state[v["_id"]] = None if v["result"] in ("deleted", "not_found") else v["_source"]
    return state


def live(state):
    return {k: v for k, v in state.items() if v is not None}


def lag_of(group, topics):
    return sum(sum(group_lag(group, t).values()) for t in topics)


def metric(coordinator_base, name, **labels):
    _, text = http_fetch(coordinator_base + "/metrics")
    return sum(v for l, v in metric_samples(text, name)
               if all(l.get(k) == w for k, w in labels.items()))


def converge(what, tail, index, pg, table, group, topics, timeout=240):
    """Waits until wcoord is at lag 0 and the changelog's final state of
    `index` equals the table (which happens only once Debezium has caught
    up too); then checks that the tombstoned ids are gone from the table."""
    def done():
        if lag_of(group, topics) != 0:
            return False
        return live(final_state(tail.catch_up(), index)) == pg.rows(table)
    ok = wait_until(done, timeout, what, interval=1.0)
    state = final_state(tail.catch_up(), index)
    rows = pg.rows(table)
    if not ok:
        got = live(state)
        diff = sorted(k for k in set(got) | set(rows) if got.get(k) != rows.get(k))
        check(False, "%s: %d ids differ, e.g. %s" % (what, len(diff), [(k, got.get(k), rows.get(k))
                                                                   for k in diff[:3]]))
    check(not any(k in rows for k, v in state.items() if v is None),
          "%s: every tombstoned id is gone from the table" % what)
    return state


class Writers:
    """Client sessions changing `items` at once: single-row updates, a row
    updated twice in one transaction, transactions over several rows,
    inserts of new ids, deletes."""

    def __init__(self, pg, phase, ops):
        self.failed = []
        self.committed = [0] * SESSIONS
        self.threads = [threading.Thread(target=self._session, args=(pg, phase, s, ops), daemon=True)
                        for s in range(SESSIONS)]
        for t in self.threads:
            t.start()

    def _session(self, pg, phase, s, ops):
        rng = random.Random(phase * 1000 + s)
        conn = pg.connect(autocommit=False)
        cur = conn.cursor()
        mine = []  # ids this session inserted
        next_id = 100000 * (phase * 10 + s + 1)
        for n in range(ops):
            kind = rng.random()
            try:
                if kind < 0.45:
                    cur.execute("UPDATE items SET qty = %s, name = %s, version = version + 1 "
                                "WHERE id = %s", (rng.randrange(10000), "p%d-s%d-%d" % (phase, s, n),
                                                  rng.randint(1, ROWS)))
                elif kind < 0.60:
                    i = rng.randint(1, ROWS)
                    for step in range(2):
                        cur.execute("UPDATE items SET qty = qty + 1, name = %s, version = version + 1 "
                                    "WHERE id = %s", ("twice-%d-%d" % (n, step), i))
                elif kind < 0.75:
                    cur.execute("INSERT INTO items VALUES (%s, %s, %s, 1)",
                                (next_id, "new-%d" % n, rng.randrange(100)))
                    mine.append(next_id)
                    next_id += 1
                elif kind < 0.85:
                    victim = mine.pop(rng.randrange(len(mine))) if mine and rng.random() < 0.5 \
                        else rng.randint(1, ROWS)
                    cur.execute("DELETE FROM items WHERE id = %s", (victim,))
                else:
                    # Several rows in id order (no deadlocks between sessions).
                    for i in sorted(rng.sample(range(1, ROWS + 1), 3)):
                        cur.execute("UPDATE items SET qty = qty - 1, version = version + 1 "
                                    "WHERE id = %s", (i,))
                conn.commit()
                self.committed[s] += 1
            except psycopg2.Error as e:
                conn.rollback()
                self.failed.append(str(e).strip())
        conn.close()

    def join(self):
        for t in self.threads:
            t.join()
        check(not self.failed, "every writer transaction committed (%d failed, e.g. %s)"
              % (len(self.failed), self.failed[:2]))
        return sum(self.committed)


def debezium_events(topics):
    """{(id, lsn): row after the change, or None for a delete} of every
    change event on `topics`; and the number of tombstones."""
    events, tombstones = {}, 0
    for t in topics:
        for msgs in read_topic(t, timeout=120).values():
            for m in msgs:
                if m.value() is None:
                    tombstones += 1
                    continue
                v = unwrap(json.loads(m.value()))
                key = str(unwrap(json.loads(m.key()))["id"])
                events[(key, v["source"]["lsn"])] = None if v["op"] == "d" else v["after"]
    return events, tombstones


def check_versions(changelog_records, index, version_events, what):
    """Every changelog record of `index` is one of the row's change events
    (same version, same row), and each document's versions only grow."""
    unknown, back = [], []
    last = {}
    for m in changelog_records:
        v = json.loads(m.value())
        if v["_index"] != index:
            continue
        deleted = v["result"] in ("deleted", "not_found")
        key = (v["_id"], v["_version"])
        if key not in version_events or version_events[key] != (None if deleted else v["_source"]):
            unknown.append((key, v.get("_source"), version_events.get(key, "no such event")))
        if v["_id"] in last and v["_version"] <= last[v["_id"]]:
            back.append((v["_id"], last[v["_id"]], v["_version"]))
        last[v["_id"]] = v["_version"]
    check(not unknown, "%s: every changelog version is a change event's version with its row "
          "(%d are not, e.g. %s)" % (what, len(unknown), unknown[:3]))
    check(not back, "%s: no document goes back in time (%d times, e.g. %s)" % (what, len(back),
                                                                              back[:3]))


# ---------------------------------------------------------------------------

# A SIGTERM (a timeout) still stops PostgreSQL and Connect in `finally`.
signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
work = tempfile.mkdtemp(prefix="wcoord-cdc-")
pg = connect = w1 = w2 = None
tails = []
try:
    pg = Postgres(KAFKA_PORT + 2)
    say("PostgreSQL on 127.0.0.1:%d" % pg.port)
    pg.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL, "
               "version bigint NOT NULL)")
    pg.execute("INSERT INTO items SELECT g, 'row-' || g, g %% 100, 1 FROM generate_series(1, %s) g",
               (ROWS,))
    # Edge cases: a version column (REPLICA IDENTITY FULL: deletes carry it),
    # a table without a primary key, one that is truncated.
    pg.execute("CREATE TABLE edge (id int PRIMARY KEY, note text, version bigint)")
    pg.execute("ALTER TABLE edge REPLICA IDENTITY FULL")
    pg.execute("INSERT INTO edge VALUES (1, 'one', 1), (2, 'two', 1), (3, 'three', 1), (4, 'four', 1)")
    pg.execute("CREATE TABLE nopk (note text)")
    pg.execute("CREATE TABLE scratch (id int PRIMARY KEY, note text, version bigint)")
    pg.execute("INSERT INTO scratch VALUES (1, 'kept', 1)")

    run = unique("cdc").replace("-", "")
    topic_a, topic_b = run + "a.public.items", run + "b.public.items"
    edge_topics = [run + "e.public.edge", run + "e.public.nopk", run + "e.public.scratch"]
    plain = unique("plain")
    # wcoord checks at start that its topics exist with one partition count.
    for t in [topic_a, topic_b] + edge_topics + [plain]:
        create_topic(t, 3)
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    def visible():
        # A created topic reaches every broker's metadata a moment later.
        topics = admin.list_topics(timeout=10).topics
        return all(t in topics and len(topics[t].partitions) == 3
                   for t in [topic_a, topic_b] + edge_topics + [plain])
    wait_until(visible, 60, "the topics in the broker's metadata")

    g1, g2 = unique("cdc-lsn"), unique("cdc-column")
    w1 = Coordinator(WCOORD, g1, topic_a + "," + topic_b, os.path.join(work, "w1"),
                     extra=GUARANTEE + ["--set", "input.format=debezium"])
    w2_formats = []
    for t in edge_topics:
        w2_formats += ["--set", "input.format.%s=debezium" % t]
    w2 = Coordinator(WCOORD, g2, ",".join(edge_topics + [plain]), os.path.join(work, "w2"),
                     extra=GUARANTEE + w2_formats + ["--set", "debezium.version=column:version",
                                         "--set", "debezium.index=schema.table"])
    w1.wait_assigned()
    w2.wait_assigned()
    base1, base2 = http_base(w1), http_base(w2)

    connect = ConnectWorker(KAFKA_PORT + 3, BOOTSTRAP, work)
    say("Kafka Connect with Debezium on 127.0.0.1:%d" % connect.port)

    # --- 1. snapshot plus streaming ------------------------------------
    # Debezium does not flush A's slot, so it can be replayed later.
    config_a = postgres_connector(pg, run + "a", run + "_a", ["public.items"],
                                  **{"flush.lsn.source": "false"})
    connect.create("cdc-a", config_a)
    wait_until(lambda: pg.slot_created(run + "_a"), 120, "connector A's replication slot")
    writers = Writers(pg, 1, 500)  # while A snapshots

    committed = writers.join()
    say("phase 1: %d transactions committed by %d sessions during A's snapshot" % (committed, SESSIONS))

    # The edge cases, on their own connector (schema wrapper on keys and
    # values; truncates are skipped by default). Its slot is created around
    # a transaction open across the snapshot's start, the case source.lsn
    # versioning gets wrong: T1 holds the creation back, T2 starts while it
    # waits, T3 changes row 2 once the creation waits for T2 (T3 is then
    # decoded in full but its change's LSN is below the snapshot's), T2 ends
    # (the snapshot is taken, without T3), and T3 commits.
    s1, s2, s3 = (pg.connect(autocommit=False) for _ in range(3))
    c1, c2, c3 = s1.cursor(), s2.cursor(), s3.cursor()
    c1.execute("SELECT txid_current() AS x")
    xid1 = c1.fetchone()["x"]
    connect.create("cdc-e", postgres_connector(
        pg, run + "e", run + "_e", ["public.edge", "public.nopk", "public.scratch"],
        **{"skipped.operations": "none", "key.converter": "org.apache.kafka.connect.json.JsonConverter",
           "key.converter.schemas.enable": "true",
           "value.converter": "org.apache.kafka.connect.json.JsonConverter",
           "value.converter.schemas.enable": "true"}))
    wait_until(lambda: pg.slot_creation_waits_for(xid1), 120, "E's slot creation waiting for T1")
    c2.execute("SELECT txid_current() AS x")
    xid2 = c2.fetchone()["x"]
    s1.commit()
    wait_until(lambda: pg.slot_creation_waits_for(xid2), 120, "E's slot creation waiting for T2")
    c3.execute("UPDATE edge SET version = 2, note = 'open across the snapshot' WHERE id = 2")
    s2.commit()
    wait_until(lambda: pg.slot_created(run + "_e"), 120, "connector E's replication slot")
    s3.commit()
    for s_ in (s1, s2, s3):
        s_.close()
    for sql in ["UPDATE edge SET version = NULL, note = 'null version' WHERE id = 1",
                "UPDATE edge SET version = 2, note = 'after the null' WHERE id = 1",
                "BEGIN; UPDATE edge SET version = version + 1 WHERE id = 4; "
                "UPDATE edge SET version = version + 1, note = 'twice' WHERE id = 4; COMMIT",
                "DELETE FROM edge WHERE id = 3",
                "INSERT INTO nopk VALUES ('no key')",
                "TRUNCATE scratch",
                "UPDATE edge SET version = 4, note = 'last' WHERE id = 1"]:
        pg.execute(sql)
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    p.produce(plain, key=b"m-1", value=json.dumps({"id": "m-1", "doc": {"plain": True}}).encode())
    p.flush(30)
    tail1 = TopicTail(g1 + ".changelog")
    tails.append(tail1)
    converge("snapshot + streaming", tail1, "items", pg, "items", g1, [topic_a, topic_b])
    say("phase 1 converged: changelog equals SELECT * FROM items (%d rows)" % len(pg.rows("items")))

    # --- 2. a second source, started later --------------------------------
    # Writers are idle while B creates its slot (see the docstring).
    connect.create("cdc-b", postgres_connector(
        pg, run + "b", run + "_b", ["public.items"],
        **{"value.converter": "org.apache.kafka.connect.json.JsonConverter",
           "value.converter.schemas.enable": "true"}))
    wait_until(lambda: pg.slot_created(run + "_b"), 120, "connector B's replication slot")
    writers = Writers(pg, 2, 300)  # while B snapshots and both stream
    committed = writers.join()
    say("phase 2: %d transactions while B snapshots and both connectors stream" % committed)
    converge("two sources racing", tail1, "items", pg, "items", g1, [topic_a, topic_b])
    events, tombstones = debezium_events([topic_a, topic_b])
    check_versions(tail1.catch_up(), "items", events, "two sources")
    say("phase 2 converged; %d change events, %d tombstones on the two topics"
        % (len(events), tombstones))
    check(metric(base1, "wcoord_tombstones_skipped_total") >= tombstones > 0,
          "every Kafka tombstone was skipped and counted (%d seen)" % tombstones)

    # --- 3. replay ---------------------------------------------------------
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": unique("ends")})
    ends_before = {p: c.get_watermark_offsets(TopicPartition(topic_a, p), timeout=10)[1]
                   for p in range(3)}
    c.close()
    streamed_a = sum(1 for msgs in read_topic(topic_a, timeout=120).values() for m in msgs
                     if m.value() is not None and json.loads(m.value())["op"] != "r")
    stale_before = metric(base1, "wcoord_mutations_total", outcome="stale")
    connect.delete("cdc-a")
    wait_until(lambda: not pg.slot_active(run + "_a"), 120, "connector A gone from its slot")
    replay = dict(config_a)
    replay["snapshot.mode"] = "no_data"  # no offsets, no snapshot: the slot's whole stream
    connect.create("cdc-a-replay", replay)

    def replayed():
        count = 0
        for p, msgs in read_topic(topic_a, timeout=60).items():
            count += sum(1 for m in msgs if m.offset() >= ends_before[p] and m.value() is not None)
        return count
    wait_until(lambda: replayed() >= streamed_a, 240, "the replay of A's %d streamed events"
               % streamed_a, interval=1.0)
    converge("after the replay", tail1, "items", pg, "items", g1, [topic_a, topic_b])
    from_replay = [m for m in tail1.catch_up()
                   if headers_of(m).get("wcoord.source.topic") == topic_a
                   and int(headers_of(m)["wcoord.source.offset"])
                   >= ends_before[int(headers_of(m)["wcoord.source.partition"])]]
    check(not from_replay, "the replay changed nothing: no changelog record came from it (%d did)"
          % len(from_replay))
    stale = metric(base1, "wcoord_mutations_total", outcome="stale") - stale_before
    check(stale >= streamed_a, "every re-emitted event was decided stale (%d of %d)"
          % (stale, streamed_a))
    say("replay: %d re-emitted events, %d decided stale, %d applied"
        % (replayed(), stale, len(from_replay)))
    dlq1 = [m for msgs in read_topic(g1 + ".dlq").values() for m in msgs]
    check(not dlq1, "no dead letter from valid change events and their tombstones (%d: %s)"
          % (len(dlq1), [m.value()[:200] for m in dlq1[:2]]))

    # --- 4. edge cases -------------------------------------------------------
    tail2 = TopicTail(g2 + ".changelog")
    tails.append(tail2)
    edge_state = converge("edge cases", tail2, "public.edge", pg, "edge", g2, edge_topics + [plain])
    dlq_tail = TopicTail(g2 + ".dlq")
    tails.append(dlq_tail)
    wait_until(lambda: len(dlq_tail.catch_up()) >= 3, 60, "the edge cases' dead letters", interval=0.5)
    dlq2 = dlq_tail.catch_up()
    letters = sorted((headers_of(m).get("__connect.errors.topic"), json.loads(m.value())["error"]["reason"])
                     for m in dlq2)
    expected = sorted([
        (edge_topics[0], "after.version is null"),
        (edge_topics[1], "key is missing: the table [public.nopk] has no primary key"),
        (edge_topics[2], "op [t]: the truncate of table [public.scratch] is not replicated")])
    check(len(letters) == 3 and all(got[0] == want[0] and got[1].startswith(want[1])
                                    for got, want in zip(letters, expected)),
          "one dead letter each, naming the field: %s" % letters)
    types = {json.loads(m.value())["error"]["type"] for m in dlq2}
    check(types == {"debezium_event_exception"}, "dead letters typed debezium_event_exception: %s" % types)
    records2 = tail2.catch_up()
    check(edge_state.get("1", {}).get("note") == "last",
          "the partition went on after the NULL version: row 1 is at its last change")
    edge_events, lsn_of = {}, {}
    for msgs in read_topic(edge_topics[0]).values():
        for m in msgs:
            if m.value() is None:
                continue
            v = unwrap(json.loads(m.value()))
            row = v["before"] if v["op"] == "d" else v["after"]
            if row and row.get("version") is not None:
                version = row["version"] + (1 if v["op"] == "d" else 0)
                edge_events[(str(row["id"]), version)] = None if v["op"] == "d" else v["after"]
            if row and row["id"] == 2:
                lsn_of[v["op"] if v["op"] == "r" else row["note"]] = v["source"]["lsn"]
    check_versions(records2, "public.edge", edge_events, "version column")
    # What source.lsn would get wrong (README, "Change data capture"): T3's
    # change is newer than E's snapshot of row 2, yet its LSN is lower; the
    # version column decides it right (the final state equals the table).
    across = lsn_of.get("open across the snapshot")
    check(across is not None and "r" in lsn_of and across < lsn_of["r"],
          "a transaction open across the snapshot's start is streamed with an LSN below the "
          "snapshot's (%s)" % lsn_of)
    check(edge_state.get("2", {}).get("note") == "open across the snapshot",
          "versioned by a column, that transaction's change wins over the snapshot")
    check(final_state(records2, "public.scratch").get("1") is not None,
          "a truncate changes no document (scratch row 1 stays)")
    check(final_state(records2, plain).get("m-1") == {"plain": True},
          "the plain mutation topic beside them is read as mutations")
    check(metric(base2, "wcoord_tombstones_skipped_total") >= 1,
          "the delete's tombstone was skipped and counted")
    say("edge cases: %d dead letters %s" % (len(letters), [l[1][:40] for l in letters]))
finally:
    for t in tails:
        t.close()
    for w in (w1, w2):
        if w and w.proc.poll() is None:
            w.stop()
    if connect:
        if failures:
            print("---- Kafka Connect log ----\n" + connect.log_tail(80), flush=True)
        connect.stop()
    if pg:
        pg.stop()
    shutil.rmtree(work, ignore_errors=True)
    say("done")
finish()

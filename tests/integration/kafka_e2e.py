#!/usr/bin/env python3
"""End-to-end through the real binary and a real broker: racing producers
(our own `wcoord produce`, kcat, and Python confluent-kafka) write a fixture;
the changelog, the dead-letter topic and the store must be exactly what the
rules predict, and the group must end with lag 0 as Kafka's own tool sees it."""
import json
import shutil
import subprocess
import sys
import tempfile
import threading

from harness import (BOOTSTRAP, ROOT, Coordinator, check, create_topic, finish, group_lag,
                     headers_of, predict, produce, racing_fixture, read_topic, store_versions,
                     unique, wait_until)

WCOORD = sys.argv[1]
topic, group = unique("muts"), unique("e2e")
create_topic(topic, 3)
records = racing_fixture(ids=60, per_id=50, seed=7)
# A record whose key names another document: invalid, never applied.
records.append((b"doc-1", json.dumps({"id": "doc-2", "doc": {}, "timestamp": 1700000000000}).encode()))
records.append((b"doc-3", b'{"id":"doc-3","version":"x","doc":{}}'))

thirds = [records[0::3], records[1::3], records[2::3]]


def with_wcoord_produce(part):
    data = b"".join(v + b"\n" for _, v in part)
    p = subprocess.run([WCOORD, "produce", "--bootstrap-servers", BOOTSTRAP, "--topic", topic],
                       input=data, capture_output=True, timeout=120)
    check(p.returncode == 0, "wcoord produce: %s" % p.stderr.decode()[-300:])


def with_kcat(part):
    data = b"".join(k + b"\t" + v + b"\n" for k, v in part)
    p = subprocess.run(["kcat", "-P", "-b", BOOTSTRAP, "-t", topic, "-K", "\t", "-z", "snappy"],
                       input=data, capture_output=True, timeout=120)
    check(p.returncode == 0, "kcat produce: %s" % p.stderr.decode()[-300:])


def with_python(part):
    # Every fifth record carries a W3C trace context, which must follow it.
    produce(topic, part, headers_for=lambda i: [("traceparent", b"00-%032x-%016x-01" % (i + 1, i + 1))]
            if i % 5 == 0 else None)


state = tempfile.mkdtemp()
try:
    coord = Coordinator(WCOORD, group, topic, state)
    coord.wait_assigned()
    writers = [threading.Thread(target=f, args=(part,))
               for f, part in zip((with_wcoord_produce, with_kcat, with_python), thirds)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    total = len(records)
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 120, "lag 0")
    coord.stop()

    inputs = read_topic(topic)
    check(sum(len(v) for v in inputs.values()) == total, "all %d records in the topic" % total)
    expected, final = predict(WCOORD, inputs, topic)
    outcomes = [b["outcome"] for b in expected.values()]
    print("predicted:", {o: outcomes.count(o) for o in set(outcomes)})
    check(all(outcomes.count(o) > 0 for o in ("applied", "stale", "conflict", "invalid")),
          "the fixture exercises every outcome")

    # Changelog: exactly the applied decisions, each once, in its source partition.
    changelog = read_topic(group + ".changelog")
    seen = {}
    for p, msgs in changelog.items():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["wcoord.source.partition"]), int(h["wcoord.source.offset"]))
            check(h["wcoord.source.topic"] == topic, "changelog source topic header")
            check(p == src[0], "changelog co-partitioned with the input")
            check(src not in seen, "changelog record %s not duplicated" % (src,))
            seen[src] = json.loads(m.value())
            exp = expected.get(src, {})
            v = seen[src]
            check(exp.get("outcome") == "applied" and v["_version"] == exp.get("_version")
                  and v["result"] == exp.get("result") and v["_id"] == exp.get("_id")
                  and v["_index"] == exp.get("_index"),
                  "changelog %s = %r, predicted %r" % (src, v, exp))
            check(m.key().decode() == v["_index"] + "/" + v["_id"], "changelog key is <index>/<id>")
            check(("_source" in v) == (v["result"] in ("created", "updated")), "source iff live")
    applied = {w for w, b in expected.items() if b["outcome"] == "applied"}
    check(set(seen) == applied, "changelog holds every applied decision (%d vs %d)"
          % (len(seen), len(applied)))

    # Dead letters: every conflict and invalid record, shaped like ES's 4xx.
    dlq = read_topic(group + ".dlq")
    dead = {}
    for msgs in dlq.values():
        for m in msgs:
            h = headers_of(m)
            v = json.loads(m.value())
            src = (int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"]))
            check(src not in dead, "dead letter %s not duplicated" % (src,))
            dead[src] = v
            exp = expected.get(src, {})
            check(v["outcome"] == exp.get("outcome") and v["status"] == exp.get("status"),
                  "dead letter %s = %s/%s, predicted %r" % (src, v["status"], v["outcome"], exp))
            check(h["__connect.errors.topic"] == topic, "connect topic header")
            check(h["__connect.errors.exception.class.name"] == v["error"]["type"], "class header")
            check(h["__connect.errors.exception.message"] == v["error"]["reason"], "message header")
            check(v["source"] == {"topic": topic, "partition": src[0], "offset": src[1],
                                  "timestamp": v["source"]["timestamp"]}, "source block")
            check(v["error"]["shard"] == str(src[0]), "shard is the source partition")
            if v["outcome"] == "conflict":
                check(v["error"]["reason"] == exp["error"]["reason"], "conflict reason %s" % (src,))
                for k in ("wcoord.conflict.current_version", "wcoord.conflict.provided_version",
                          "wcoord.conflict.version_type"):
                    check(k in h, "header %s" % k)
            original = inputs[src[0]][src[1]].value()
            try:
                orig_json = json.loads(original)
            except ValueError:
                orig_json = None
            if orig_json is not None:
                check(v["mutation"] == orig_json, "original record kept as JSON")
            else:
                check(v["mutation"] == original.decode(errors="replace"), "original kept as a string")
            tp = [x for x in (inputs[src[0]][src[1]].headers() or []) if x[0] == "traceparent"]
            if tp:
                check(h.get("traceparent") == tp[0][1].decode(), "traceparent copied to the dead letter")
    bad = {w for w, b in expected.items() if b["outcome"] in ("conflict", "invalid")}
    check(set(dead) == bad, "dead-letter topic holds every conflict and invalid (%d vs %d)"
          % (len(dead), len(bad)))
    traced = 0
    for msgs in changelog.values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["wcoord.source.partition"]), int(h["wcoord.source.offset"]))
            tp = [x for x in (inputs[src[0]][src[1]].headers() or []) if x[0] == "traceparent"]
            if tp:
                traced += 1
                check(h.get("traceparent") == tp[0][1].decode(), "traceparent copied to the changelog")
    check(traced > 0, "some changelog records carried a traceparent")

    # Store: every document at the predicted version.
    docs = sorted({(b["_index"], b["_id"]) for b in expected.values() if b.get("_id")})
    now = store_versions(WCOORD, state, docs)
    for d in docs:
        check(now.get(d) == final.get(d), "store %s at %s, predicted %s" % (d, now.get(d), final.get(d)))

    # Lag as Kafka's own tool reports it.
    out = subprocess.run([ROOT + "/scripts/kafka", "tools", "kafka-consumer-groups", "--bootstrap-server",
                          BOOTSTRAP, "--describe", "--group", group], capture_output=True, timeout=120,
                         env={**__import__("os").environ, "KAFKA_PORT": BOOTSTRAP.split(":")[1]})
    rows = [l.split() for l in out.stdout.decode().splitlines() if l.startswith(group)]
    check(len(rows) == 3, "kafka-consumer-groups lists 3 partitions: %s" % out.stdout.decode()[-500:])
    for r in rows:
        check(r[5] == "0", "kafka-consumer-groups lag 0: %s" % r)
finally:
    shutil.rmtree(state, ignore_errors=True)
finish()

#!/usr/bin/env python3
"""Two instances in one group hand partitions to each other mid-stream:
B joins while A works (partitions move, B restores them from the
changelog), then A leaves with SIGTERM (draining and committing first).
No mutation may be decided twice, none lost, every decision as the
sequential replay makes it, and B's store ends equal to the replay.

Sequence numbers (issue 9): every changelog record carries the pair of its
source offset, whoever decided it, and B's store holds the pairs A gave.
A second topic (same partition numbers) carries documents that A creates;
after the handoff a client writes them with compare-and-set using the
pairs it read before: B applies the current pairs and refuses stale ones
with Elasticsearch's reason."""
import json
import re
import shutil
import sys
import tempfile
import threading

from harness import (Coordinator, check, create_topic, expected_pairs, finish, group_lag,
                     headers_of, predict, produce, racing_fixture, read_topic, store_pairs,
                     store_versions, unique, wait_until)

WCOORD = sys.argv[1]
topic, cas_topic, group = unique("rebal"), unique("rebal-cas"), unique("rebal")
create_topic(topic, 4)
create_topic(cas_topic, 4)
topics = topic + "," + cas_topic
records = racing_fixture(ids=400, per_id=100, seed=23)
half = len(records) // 2
CAS_IDS = ["cas-%d" % i for i in range(60)]


def cas_record(doc_id, **fields):
    return (doc_id.encode(), json.dumps(dict(fields, index="cas", id=doc_id)).encode())


def lag_of(t):
    return sum(group_lag(group, t).values())


state_a, state_b = tempfile.mkdtemp(), tempfile.mkdtemp()
try:
    produce(topic, records[:half // 2])
    produce(cas_topic, [cas_record(i, doc={"v": 1}) for i in CAS_IDS])
    a = Coordinator(WCOORD, group, topics, state_a)
    a.wait_assigned()
    # The client reads each document's pair (from the changelog here; GET
    # /v1/docs serves the same) while A owns every partition.
    wait_until(lambda: lag_of(cas_topic) == 0, 60, "A decided the documents to write")
    read_pairs = {}
    for msgs in read_topic(group + ".changelog", timeout=60).values():
        for m in msgs:
            v = json.loads(m.value())
            if v["_index"] == "cas":
                read_pairs[v["_id"]] = (v["_seq_no"], v["_primary_term"])
    check(sorted(read_pairs) == sorted(CAS_IDS), "the client read every pair")
    feeder = threading.Thread(target=produce, args=(topic, records[half // 2: half]))
    feeder.start()
    b = Coordinator(WCOORD, group, topics, state_b)
    wait_until(lambda: b.saw(r"assigned [1-9]") and a.saw("revoking"), 60, "B takes partitions from A")
    feeder.join()
    produce(topic, records[half:])
    a.stop()
    check(a.saw("revoking"), "A drained its partitions on the way out")
    # A's partitions move to B, which restores them before deciding.
    wait_until(lambda: sum(1 for l in b.lines if re.search(r"assigned [1-9]", l)) >= 2, 60,
               "B takes over A's partitions")
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 120, "lag 0")
    check(b.saw("restored [1-9]"), "B restored partitions from the changelog")
    # Compare-and-set after the handoff: the pairs read from A hold on B.
    # Even documents get their current pair (applied), odd ones a stale or
    # foreign one (409, dead-lettered).
    cas_writes = {}
    for n, i in enumerate(CAS_IDS):
        seq, term = read_pairs[i]
        if n % 2 == 0:
            cas_writes[i] = (seq, term)
        else:
            cas_writes[i] = (seq + 1, term) if n % 4 == 1 else (seq, term + 1)
    produce(cas_topic, [cas_record(i, doc={"v": 2}, if_seq_no=p[0], if_primary_term=p[1])
                        for i, p in cas_writes.items()])
    wait_until(lambda: lag_of(cas_topic) == 0, 120, "B decided the compare-and-set writes")
    b.stop()
    if "--debug" in sys.argv:
        print("\n".join(l for l in b.lines if "assign" in l or "restor" in l or "revok" in l))

    inputs = read_topic(topic, timeout=60)
    expected, final = predict(WCOORD, inputs, topic)
    seen, cas_applied = set(), {}
    for msgs in read_topic(group + ".changelog", timeout=60).values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["wcoord.source.partition"]), int(h["wcoord.source.offset"]))
            v = json.loads(m.value())
            check(v.get("_seq_no") == src[1] and v.get("_primary_term") == 1,
                  "changelog %s carries the pair of its offset: %r" % (src, v))
            check(m.key().decode() == "%s/%s" % (v["_index"], v["_id"]),
                  "changelog key is <index>/<id>: %r" % m.key())
            if h["wcoord.source.topic"] == cas_topic:
                if v["_version"] == 2:
                    cas_applied[v["_id"]] = v
                continue
            check(src not in seen, "applied %s decided once" % (src,))
            seen.add(src)
            v, exp = json.loads(m.value()), expected.get(src, {})
            check(exp.get("outcome") == "applied" and exp.get("_version") == v["_version"],
                  "changelog %s %r as replayed (%r)" % (src, v, exp))
    applied = {w for w, x in expected.items() if x["outcome"] == "applied"}
    check(seen == applied, "no applied decision lost (%d of %d)" % (len(seen & applied), len(applied)))
    want_applied = sorted(i for n, i in enumerate(CAS_IDS) if n % 2 == 0)
    check(sorted(cas_applied) == want_applied,
          "compare-and-set with the pairs read from A applies on B (%d of %d)"
          % (len(cas_applied), len(want_applied)))
    dead, cas_refused = set(), {}
    for msgs in read_topic(group + ".dlq", timeout=60).values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"]))
            if h["__connect.errors.topic"] == cas_topic:
                cas_refused[json.loads(m.value())["mutation"]["id"]] = (m, h)
                continue
            check(src not in dead, "dead letter %s once" % (src,))
            dead.add(src)
            check(expected.get(src, {}).get("outcome") == json.loads(m.value())["outcome"],
                  "dead letter %s as replayed" % (src,))
    bad = {w for w, x in expected.items() if x["outcome"] in ("conflict", "invalid")}
    check(dead == bad, "no conflict or invalid lost (%d of %d)" % (len(dead & bad), len(bad)))
    check(sorted(cas_refused) == sorted(set(CAS_IDS) - set(want_applied)),
          "stale pairs are refused on B (%d dead letters)" % len(cas_refused))
    for i, (m, h) in cas_refused.items():
        seq, term = read_pairs[i]
        asked = cas_writes[i]
        reason = ("[%s]: version conflict, required seqNo [%d], primary term [%d]. current "
                  "document has seqNo [%d] and primary term [%d]" % (i, asked[0], asked[1], seq, term))
        v = json.loads(m.value())
        check(v["status"] == 409 and v["outcome"] == "conflict" and v["error"]["reason"] == reason,
              "dead letter for %s: %r, want %r" % (i, v["error"], reason))
        check((h.get("wcoord.conflict.current_seq_no"), h.get("wcoord.conflict.provided_seq_no"))
              == (str(seq), str(asked[0])), "conflict headers for %s: %r" % (i, h))
    docs = sorted({(x["_index"], x["_id"]) for x in expected.values() if x.get("_id")})
    now = store_versions(WCOORD, state_b, docs, event_time=1700000000000 + 3 * len(records))
    wrong = [d for d in docs if now.get(d) != final.get(d)]
    check(not wrong, "B's store equals the replay (%d differ, e.g. %s)"
          % (len(wrong), [(d, now.get(d), final.get(d)) for d in wrong[:3]]))
    # The pairs A gave survived the handoff: B's store has the pair of each
    # document's last write, whichever instance decided it.
    pairs, want = store_pairs(WCOORD, state_b, docs), expected_pairs(expected)
    wrong = [d for d in docs if pairs.get(d) != want.get(d)]
    check(not wrong, "B's pairs equal the offsets of the last writes (%d differ, e.g. %s)"
          % (len(wrong), [(d, pairs.get(d), want.get(d)) for d in wrong[:3]]))
finally:
    shutil.rmtree(state_a, ignore_errors=True)
    shutil.rmtree(state_b, ignore_errors=True)
finish()

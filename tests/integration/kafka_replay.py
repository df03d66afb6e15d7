#!/usr/bin/env python3
"""Replay safety: kill -9 the coordinator at random moments during a 200k
record run with races and malformed records, restart, repeat. The final
store must equal a sequential replay of the input; the changelog must hold
every applied decision at least once and never one the replay would not make;
the dead-letter topic only decisions the replay makes."""
import json
import random
import shutil
import sys
import tempfile
import time

from harness import (Coordinator, check, create_topic, expected_pairs, finish, group_lag,
                     headers_of, predict, produce, racing_fixture, read_topic, store_pairs,
                     store_versions, unique, wait_until)

WCOORD = sys.argv[1]
EXACTLY_ONCE = "--exactly-once" in sys.argv
numbers = [a for a in sys.argv[2:] if a.isdigit()]
N = int(numbers[0]) if numbers else 200_000
EXTRA = ("--set", "processing.guarantee=exactly_once") if EXACTLY_ONCE else ()
topic, group = unique("replay"), unique("replay")
create_topic(topic, 4)
records = racing_fixture(ids=5000, per_id=N // 5000, seed=11)
produce(topic, records)
rng = random.Random(3)
state = tempfile.mkdtemp()
kills = 0
try:
    while True:
        c = Coordinator(WCOORD, group, topic, state, extra=EXTRA)
        lag = sum(group_lag(group, topic).values())
        if lag == 0 or kills >= 6:
            break
        c.wait_assigned()
        # A random moment: this is the fault, not a wait. A transactional
        # restart first completes its predecessor's transaction, so it gets
        # longer to make progress before the next kill.
        time.sleep(rng.uniform(1.0, 5.0) if EXACTLY_ONCE else rng.uniform(0.3, 2.5))
        c.kill()
        kills += 1
        after = sum(group_lag(group, topic).values())
        print("kill -9 #%d: lag %d -> %d" % (kills, lag, after), flush=True)
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 300, "lag 0 after restarts")
    c.stop()
    check(kills >= 2, "killed at least twice mid-run (%d)" % kills)

    inputs = read_topic(topic, timeout=120)
    expected, final = predict(WCOORD, inputs, topic)
    changelog = read_topic(group + ".changelog", timeout=120)
    seen, dupes = set(), 0
    for msgs in changelog.values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["wcoord.source.partition"]), int(h["wcoord.source.offset"]))
            dupes += src in seen
            seen.add(src)
            v, exp = json.loads(m.value()), expected.get(src, {})
            check(exp.get("outcome") == "applied" and exp.get("_version") == v["_version"]
                  and exp.get("result") == v["result"],
                  "changelog %s %r is a decision the replay makes (%r)" % (src, v, exp))
            # The pair is the source offset's, in every run between kills
            # (a record published again carries the same one).
            check(v.get("_seq_no") == src[1] and v.get("_primary_term") == 1,
                  "changelog %s carries the pair of its offset: %r" % (src, v))
    applied = {w for w, b in expected.items() if b["outcome"] == "applied"}
    check(applied <= seen, "every applied decision is on the changelog (missing %d)"
          % len(applied - seen))
    print("changelog: %d records, %d republished after kills" % (len(seen) + dupes, dupes))
    if EXACTLY_ONCE:
        check(dupes == 0, "exactly once: no changelog record republished (%d)" % dupes)
    dead = set()
    for msgs in read_topic(group + ".dlq", timeout=120).values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"]))
            if EXACTLY_ONCE:
                check(src not in dead, "exactly once: dead letter %s once" % (src,))
            dead.add(src)
            v = json.loads(m.value())
            check(expected.get(src, {}).get("outcome") == v["outcome"],
                  "dead letter %s is a decision the replay makes" % (src,))
    docs = sorted({(b["_index"], b["_id"]) for b in expected.values() if b.get("_id")})
    now = store_versions(WCOORD, state, docs, event_time=1700000000000 + 3 * N)
    wrong = [d for d in docs if now.get(d) != final.get(d)]
    check(not wrong, "store equals the sequential replay (%d of %d differ, e.g. %s)"
          % (len(wrong), len(docs), [(d, now.get(d), final.get(d)) for d in wrong[:3]]))
    # After the kills, each document still has the pair its last write got.
    pairs, want = store_pairs(WCOORD, state, docs), expected_pairs(expected)
    wrong = [d for d in docs if pairs.get(d) != want.get(d)]
    check(not wrong, "store pairs equal the offsets of the last writes (%d of %d differ, e.g. %s)"
          % (len(wrong), len(docs), [(d, pairs.get(d), want.get(d)) for d in wrong[:3]]))
finally:
    shutil.rmtree(state, ignore_errors=True)
finish()

#!/usr/bin/env python3
"""Two instances in one group hand partitions to each other mid-stream:
B joins while A works (partitions move, B restores them from the
changelog), then A leaves with SIGTERM (draining and committing first).
No mutation may be decided twice, none lost, every decision as the
sequential replay makes it, and B's store ends equal to the replay."""
import json
import re
import shutil
import sys
import tempfile
import threading

from harness import (Coordinator, check, create_topic, finish, group_lag, headers_of, predict,
                     produce, racing_fixture, read_topic, store_versions, unique, wait_until)

WCOORD = sys.argv[1]
topic, group = unique("rebal"), unique("rebal")
create_topic(topic, 4)
records = racing_fixture(ids=400, per_id=100, seed=23)
half = len(records) // 2
state_a, state_b = tempfile.mkdtemp(), tempfile.mkdtemp()
try:
    produce(topic, records[:half // 2])
    a = Coordinator(WCOORD, group, topic, state_a)
    a.wait_assigned()
    feeder = threading.Thread(target=produce, args=(topic, records[half // 2: half]))
    feeder.start()
    b = Coordinator(WCOORD, group, topic, state_b)
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
    b.stop()
    if "--debug" in sys.argv:
        print("\n".join(l for l in b.lines if "assign" in l or "restor" in l or "revok" in l))

    inputs = read_topic(topic, timeout=60)
    expected, final = predict(WCOORD, inputs, topic)
    seen = set()
    for msgs in read_topic(group + ".changelog", timeout=60).values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["wcoord.source.partition"]), int(h["wcoord.source.offset"]))
            check(src not in seen, "applied %s decided once" % (src,))
            seen.add(src)
            v, exp = json.loads(m.value()), expected.get(src, {})
            check(exp.get("outcome") == "applied" and exp.get("_version") == v["_version"],
                  "changelog %s %r as replayed (%r)" % (src, v, exp))
    applied = {w for w, x in expected.items() if x["outcome"] == "applied"}
    check(seen == applied, "no applied decision lost (%d of %d)" % (len(seen & applied), len(applied)))
    dead = set()
    for msgs in read_topic(group + ".dlq", timeout=60).values():
        for m in msgs:
            h = headers_of(m)
            src = (int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"]))
            check(src not in dead, "dead letter %s once" % (src,))
            dead.add(src)
            check(expected.get(src, {}).get("outcome") == json.loads(m.value())["outcome"],
                  "dead letter %s as replayed" % (src,))
    bad = {w for w, x in expected.items() if x["outcome"] in ("conflict", "invalid")}
    check(dead == bad, "no conflict or invalid lost (%d of %d)" % (len(dead & bad), len(bad)))
    docs = sorted({(x["_index"], x["_id"]) for x in expected.values() if x.get("_id")})
    now = store_versions(WCOORD, state_b, docs, event_time=1700000000000 + 3 * len(records))
    wrong = [d for d in docs if now.get(d) != final.get(d)]
    check(not wrong, "B's store equals the replay (%d differ, e.g. %s)"
          % (len(wrong), [(d, now.get(d), final.get(d)) for d in wrong[:3]]))
finally:
    shutil.rmtree(state_a, ignore_errors=True)
    shutil.rmtree(state_b, ignore_errors=True)
finish()

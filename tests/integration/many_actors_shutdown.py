#!/usr/bin/env python3
"""SIGTERM with 300k live document actors (issue 8, item 5): `wcoord run`
with passivation.active.entity.limit=1000000 consumes 300k records with
distinct ids, so 300k actors are alive when SIGTERM arrives. The process
must exit 0 within shutdown.timeout by finishing its drain and teardown,
not through the watchdog that cuts a teardown short at the bound: the log
shows the drain and the teardown finished, and never "shutdown.timeout
reached". Before document actors stopped being linked to their shard, every
one of the 300k exits walked the shard's list of links (CAF 0.17), and the
process spent minutes in unlink_from.

    many_actors_shutdown.py WCOORD [--records N] [--timeout SECONDS]
"""
import argparse
import re
import shutil
import signal
import subprocess
import tempfile
import time

from confluent_kafka import Producer

from harness import (BOOTSTRAP, Coordinator, check, create_topic, finish, group_lag, http_base,
                     http_fetch, metric_samples, unique, wait_until)

ap = argparse.ArgumentParser()
ap.add_argument("wcoord")
ap.add_argument("--records", type=int, default=300000)
ap.add_argument("--timeout", type=int, default=30, help="shutdown.timeout, seconds")
args = ap.parse_args()

topic, group = unique("many"), unique("many")
create_topic(topic, 4)


def produce_distinct(n):
    """n records, each with an id of its own, as fast as the client goes."""
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                  "linger.ms": 50, "batch.num.messages": 10000, "batch.size": 1000000,
                  "compression.type": "lz4", "queue.buffering.max.messages": 1000000})
    errors = []

    def report(err, _msg):
        if err:
            errors.append(err)

    for i in range(n):
        key = b"m-%d" % i
        value = b'{"id":"m-%d","version_type":"external","version":1,"doc":{"n":%d}}' % (i, i)
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)
    check(not errors, "every record delivered (%s)" % errors[:3])


def active_actors(base):
    status, body = http_fetch(base + "/metrics")
    values = [v for _, v in metric_samples(body if status == 200 else "",
                                           "wcoord_active_document_actors")]
    return int(values[0]) if values else 0


state = tempfile.mkdtemp()
try:
    started = time.monotonic()
    produce_distinct(args.records)
    print("produced %d records in %.1f s" % (args.records, time.monotonic() - started), flush=True)
    c = Coordinator(args.wcoord, group, topic, state, extra=[
        "--set", "passivation.active.entity.limit=1000000",
        # Nothing may passivate before SIGTERM: every actor stays alive.
        "--set", "passivation.idle.timeout=1h",
        "--set", "shutdown.timeout=%ds" % args.timeout])
    c.wait_assigned()
    base = http_base(c)
    consumed_at = time.monotonic()
    wait_until(lambda: active_actors(base) >= args.records, 240,
               "%d live document actors" % args.records, interval=1)
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 120, "lag 0", interval=1)
    live = active_actors(base)
    print("consumed in %.1f s, %d live document actors" % (time.monotonic() - consumed_at, live),
          flush=True)
    check(live >= args.records, "%d live document actors before SIGTERM (want >= %d)"
          % (live, args.records))

    signal_at = time.monotonic()
    c.proc.send_signal(signal.SIGTERM)
    try:
        rc = c.proc.wait(args.timeout + 30)
    except subprocess.TimeoutExpired:  # hung past the bound and the watchdog
        c.proc.kill()
        rc = None
    took = time.monotonic() - signal_at
    time.sleep(0.2)  # the log pump reads the last lines
    print("SIGTERM to exit: %.1f s (rc=%s)" % (took, rc), flush=True)
    for line in c.lines:
        if re.search(r"signal \d+ received|drained in|torn down in|shutdown.timeout reached", line):
            print("  " + line, flush=True)
    check(rc == 0, "exit 0 after SIGTERM (rc=%s)" % rc)
    check(took < args.timeout, "exit within shutdown.timeout=%ds (took %.1f s)" % (args.timeout, took))
    check(c.saw(r"drained in \d+ ms"), "the drain finished")
    check(c.saw(r"torn down in \d+ ms"), "the teardown finished")
    check(not c.saw("shutdown.timeout reached"),
          "the teardown finished by itself, not by the shutdown.timeout watchdog")
    # Everything consumed was committed on the way out.
    check(sum(group_lag(group, topic).values()) == 0, "lag 0 after the exit")
finally:
    shutil.rmtree(state, ignore_errors=True)
finish()

#!/usr/bin/env python3
"""End-to-end benchmark of `wcoord run` against the real local broker.

Run on demand (never in the test suite):

    scripts/setup && /usr/bin/python3 bench/kafka_bench.py [--records 1000000] [--ids 100000] [--exactly-once]

1. Pre-produces N mutations (realistic mix: external versions from racing
   replicas with reordering, internal-version writers, creates, deletes,
   some malformed) to a fresh 4-partition topic with `wcoord produce`.
2. Ceiling: the raw consume rate of that topic with librdkafka doing nothing
   else (kcat reading it to the end into /dev/null).
3. Drain: `wcoord run` (RocksDB, changelog and dead-letter outputs on)
   consumes the backlog; mutations/s until the group's lag is 0, and the
   process's peak RSS.
4. Latency: on a second topic, a producer offers half the measured drain
   rate for a fixed time while the coordinator is caught up; end-to-end
   latency per record = the changelog/dead-letter record's timestamp (when
   wcoord published the decision) minus the input record's timestamp.

Ratios are against the ceiling measured in the same run (this machine is
noisy), and the goal from the issue is drain >= 0.50 of the raw rate.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
PORT = os.environ.get("KAFKA_PORT", "29292")
os.environ["KAFKA_PORT"] = PORT
os.environ["TEST_KAFKA_BOOTSTRAP"] = "127.0.0.1:" + PORT
import harness  # noqa: E402  (after the environment names the broker)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

WCOORD = os.path.join(ROOT, "build", "app", "wcoord")
BOOT = harness.BOOTSTRAP


def workload(n, ids, seed=5):
    """JSON lines: what sync jobs, services and loaders send, with races."""
    rng = random.Random(seed)
    versions = {}
    lines = []
    for i in range(n):
        d = rng.randrange(ids)
        doc = "doc-%d" % d
        r = rng.random()
        if r < 0.60:  # replicas: mostly increasing external versions, some late
            v = versions.get(d, 0) + 1
            versions[d] = v
            if rng.random() < 0.25:
                v = max(1, v - rng.randrange(1, 4))
            m = {"id": doc, "version_type": "external", "version": v,
                 "doc": {"name": "customer %d" % d, "v": v, "tags": ["a", "b"], "pad": "x" * rng.randrange(40, 200)}}
        elif r < 0.80:
            m = {"id": doc, "version": rng.randrange(1, 4), "doc": {"cart": rng.randrange(100)}}
        elif r < 0.88:
            m = {"op": "create", "id": doc, "doc": {"created": i}}
        elif r < 0.95:
            m = {"op": "delete", "id": doc}
        elif r < 0.99:
            m = {"id": doc, "doc": {"n": i}}
        else:
            lines.append('{"id":"%s","doc":{"broken":' % doc)
            continue
        m["timestamp"] = 1700000000000 + i
        lines.append(json.dumps(m, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def peak_rss_mb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def raw_consume_rate(topic, n):
    start = time.monotonic()
    p = subprocess.run(["kcat", "-C", "-b", BOOT, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%o\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    secs = time.monotonic() - start
    got = p.stdout.count(b"\n")
    assert got == n, "kcat read %d of %d" % (got, n)
    return n / secs


GUARANTEE = "at_least_once"
EXTRA_SETTINGS = []


def start_coordinator(topic, group, state):
    extra = ["--set", "commit.interval.ms=100", "--set", "processing.guarantee=" + GUARANTEE]
    for kv in EXTRA_SETTINGS:
        extra += ["--set", kv]
    return harness.Coordinator(WCOORD, group, topic, state, extra=tuple(extra))


def drain(topic, n):
    group = harness.unique("bench")
    state = tempfile.mkdtemp()
    c = start_coordinator(topic, group, state)
    # The clock starts when the group has assigned the partitions: joining
    # is a fixed cost of seconds that says nothing about throughput.
    harness.wait_until(lambda: c.saw(r"assigned [1-9]"), 60, "assignment", interval=0.01)
    start = time.monotonic()
    # Each lag query builds a client; asking every 0.25 s keeps the probe's
    # own CPU out of a measurement on a 2-core machine.
    while sum(harness.group_lag(group, topic).values()) > 0:
        time.sleep(0.25)
    secs = time.monotonic() - start
    rss = peak_rss_mb(c.proc.pid)
    c.stop()
    subprocess.run(["rm", "-rf", state])
    return n / secs, secs, rss


def latency(rate, seconds):
    topic = harness.unique("lat")
    harness.create_topic(topic, 4)
    group = harness.unique("lat")
    state = tempfile.mkdtemp()
    c = start_coordinator(topic, group, state)
    harness.wait_until(lambda: c.saw(r"assigned [1-9]"), 60, "assignment")
    p = Producer({"bootstrap.servers": BOOT, "linger.ms": 1, "enable.idempotence": True})
    lines = workload(int(rate * seconds), 20000, seed=9).splitlines()
    start = time.monotonic()
    for i, line in enumerate(lines):
        due = start + i / rate
        while time.monotonic() < due:
            p.poll(0)
            time.sleep(min(0.001, max(0, due - time.monotonic())))
        key = re.search(r'"id":"([^"]+)"', line)
        p.produce(topic, key=key.group(1) if key else None, value=line)
        p.poll(0)
    p.flush(30)
    offered = len(lines) / (time.monotonic() - start)
    while sum(harness.group_lag(group, topic).values()) > 0:
        time.sleep(0.05)
    c.stop()
    subprocess.run(["rm", "-rf", state])
    inputs = harness.read_topic(topic, timeout=120)
    sent = {(pt, m.offset()): m.timestamp()[1] for pt, ms in inputs.items() for m in ms}
    lat = []
    for out_topic, part_h, off_h in ((group + ".changelog", "wcoord.source.partition", "wcoord.source.offset"),
                                     (group + ".dlq", "__connect.errors.partition", "__connect.errors.offset")):
        for ms in harness.read_topic(out_topic, timeout=120).values():
            for m in ms:
                h = harness.headers_of(m)
                src = (int(h[part_h]), int(h[off_h]))
                if src in sent:
                    lat.append(m.timestamp()[1] - sent[src])
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    return offered, len(lat), pct(0.50), pct(0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--ids", type=int, default=100_000)
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--exactly-once", action="store_true",
                    help="run the coordinator with processing.guarantee=exactly_once")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra wcoord run setting (repeatable), e.g. kafka.linger.ms=1")
    args = ap.parse_args()
    EXTRA_SETTINGS.extend(args.set)
    global GUARANTEE
    if args.exactly_once:
        GUARANTEE = "exactly_once"
    addr = subprocess.run([ROOT + "/scripts/kafka", "start"], capture_output=True, text=True,
                          check=True).stdout.strip().splitlines()[-1]
    print("broker %s; generating %d mutations over %d ids" % (addr, args.records, args.ids), flush=True)
    topic = harness.unique("bench")
    harness.create_topic(topic, 4)
    data = workload(args.records, args.ids).encode()
    t = time.monotonic()
    subprocess.run([WCOORD, "produce", "--bootstrap-servers", BOOT, "--topic", topic], input=data,
                   check=True, stderr=subprocess.DEVNULL)
    print("pre-produced in %.1fs" % (time.monotonic() - t), flush=True)
    raw = raw_consume_rate(topic, args.records)
    print("raw consume (kcat): %.0f records/s" % raw, flush=True)
    rate, secs, rss = drain(topic, args.records)
    print("coordinator drain: %.0f mutations/s (%.1fs), peak RSS %.0f MB" % (rate, secs, rss), flush=True)
    offered, n, p50, p99 = latency(rate / 2, args.latency_seconds)
    print()
    print("%-34s %12s %8s" % ("pass", "records/s", "ratio"))
    print("%-34s %12.0f %8.2f" % ("raw consume (ceiling)", raw, 1.0))
    print("%-34s %12.0f %8.2f" % ("wcoord run drain (%s)" % GUARANTEE, rate, rate / raw))
    print("peak RSS of wcoord run: %.0f MB" % rss)
    print("latency at %.0f/s offered (half the drain rate), %d decisions: p50 %d ms, p99 %d ms"
          % (offered, n, p50, p99))
    print("goal: drain >= 0.50 of raw consume -> %s" % ("met" if rate / raw >= 0.5 else "NOT met"))
    subprocess.run([ROOT + "/scripts/kafka", "stop", "--wipe"], capture_output=True)


if __name__ == "__main__":
    main()

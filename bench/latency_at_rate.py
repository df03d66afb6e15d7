#!/usr/bin/python3
"""Where a record waits inside `wcoord run` at one offered rate.

    /usr/bin/python3 bench/latency_at_rate.py 12000                 # 15 s at 12,000 records/s
    /usr/bin/python3 bench/latency_at_rate.py 12000 --ids 2000      # few documents: no store loads
    /usr/bin/python3 bench/latency_at_rate.py 12000 --set kafka.linger.ms=0
    /usr/bin/python3 bench/latency_at_rate.py 12000 --floor         # Kafka alone: the probe reads its input

A diagnostic beside service_bench.py (which measures every contender at
half its own drain rate): one fresh `wcoord run` (fresh group, topic and
state) against the local broker, fed by bench/latency_probe at a fixed rate
with the service_bench workload cut to --records lines over --ids
documents. It prints the probe's end-to-end percentiles (produce call →
output visible to a read_committed consumer), wcoord's CPU per record while
the load ran, how long it needed to commit everything afterwards, and its
own histogram `wcoord_decision_latency_seconds` (taken off Kafka → decision
durable), which tells the waits inside wcoord from the Kafka round trips
around it. Run it on a quiet machine; a figure moves by tens of percent
from run to run here.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servicebench import workload  # noqa: E402
from servicebench.broker import Broker, unique  # noqa: E402
from servicebench.measure import cpu_seconds  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITIONS = 4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rate", type=float, help="records per second offered")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--warmup-seconds", type=int, default=3)
    ap.add_argument("--records", type=int, default=200000, help="workload lines, cycled")
    ap.add_argument("--ids", type=int, default=100000, help="documents in the workload")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a wcoord setting (repeatable)")
    ap.add_argument("--floor", action="store_true", help="no wcoord: Kafka's own round trip")
    ap.add_argument("--port", default=os.environ.get("KAFKA_PORT", "19092"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--wcoord", default="", help="binary (default BUILD/app/wcoord)")
    args = ap.parse_args()

    broker = Broker(ROOT, args.port)
    broker.start()
    work = tempfile.mkdtemp(prefix="latency-at-rate-")
    group = unique("lat")
    topic = group + "-in"
    try:
        broker.create_topic(topic, PARTITIONS)
        keyed = os.path.join(work, "workload.tsv")
        workload.write_keyed(list(workload.lines(args.records, args.ids)), keyed)
        probe_argv = [os.path.join(args.build, "bench", "latency_probe"),
                      "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--input", keyed,
                      "--rate", "%.0f" % args.rate, "--seconds", str(args.seconds),
                      "--warmup-seconds", str(args.warmup_seconds)]
        if args.floor:
            probe_argv += ["--output", topic + "::"]
            print(json.dumps(run_probe(probe_argv, lambda: None)))
            return 0
        probe_argv += ["--output", group + ".changelog:wcoord.source.partition:wcoord.source.offset",
                       "--output", group + ".dlq:__connect.errors.partition:__connect.errors.offset"]
        http = "127.0.0.1:%d" % free_port()
        argv = [args.wcoord or os.path.join(args.build, "app", "wcoord"), "run"]
        for kv in ["bootstrap.servers=" + broker.bootstrap, "group.id=" + group, "topics=" + topic,
                   "state.dir=" + os.path.join(work, "state"), "http.listen=" + http] + args.set:
            argv += ["--set", kv]
        log_path = os.path.join(work, "wcoord.log")
        with open(log_path, "w") as log:
            wc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: "assigned" in open(log_path).read(), 60, "wcoord's partitions")
            cpu = {"start": cpu_seconds(wc.pid)}
            caught_up = {}

            def after_offering():
                cpu["end"] = cpu_seconds(wc.pid)
                t = time.monotonic()
                wait_committed(broker, group, topic)
                caught_up["seconds"] = time.monotonic() - t

            result = run_probe(probe_argv, after_offering)
            offered = args.rate * args.seconds
            result["wcoord_cpu_us_per_record"] = round(
                (cpu["end"] - cpu["start"]) / offered * 1e6, 1)
            result["committed_all_after_s"] = round(caught_up["seconds"], 1)
            result["decision_latency"] = histogram(http, "wcoord_decision_latency_seconds")
            print(json.dumps(result))
        finally:
            wc.send_signal(signal.SIGTERM)
            wc.wait(60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_probe(argv, after_offering):
    probe = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        produced = json.loads(probe.stdout.readline() or "{}")
        if produced.get("event") != "produced":
            raise SystemExit("latency_probe failed (rc=%s)" % probe.wait())
        after_offering()
        probe.stdin.write("finish\n")
        probe.stdin.flush()
        return json.loads(probe.stdout.readline() or "{}")
    finally:
        if probe.poll() is None:
            probe.kill()
        probe.wait()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.1)


def wait_committed(broker, group, topic):
    """Until the group's committed offsets reach the topic's end."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = [c.get_watermark_offsets(tp, timeout=30)[1] for tp in tps]
        wait_for(lambda: all(x.offset >= e for x, e in zip(c.committed(tps, timeout=30), ends)),
                 300, "wcoord's commits")
    finally:
        c.close()


def histogram(http, name):
    """Cumulative bucket counts of one of wcoord's histograms, by bound."""
    text = urllib.request.urlopen("http://%s/metrics" % http, timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[bound] = int(float(line.rsplit(" ", 1)[1]))
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())

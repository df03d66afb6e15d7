#!/usr/bin/env python3
"""The broker goes away mid-run and comes back: wcoord must ride it out.

usage: broker_outage.py WCOORD [--guarantee exactly_once|at_least_once]
                               [--outage SECONDS] [--records N]

The test runs a broker of its own (OUTAGE_KAFKA_PORT, default 29392; never
the shared test broker, since it stops this one) and wipes it at the end.
A backlog of racing records (conflicts, stale writes, malformed records) is
produced, one `wcoord run` starts on it, and once it has committed some of
it the broker is stopped (scripts/kafka stop: data kept) for --outage
seconds (default 180, the outage the service must survive; CI may pass a
shorter one). During the outage:

* the process keeps running (no fail-stop on a broker that is merely away);
* GET /healthz answers 200 (the poll loop keeps coming back);
* /metrics shows `wcoord_kafka_brokers_up 0`, and the log says the broker is
  down/unreachable (a line of wcoord's own, not librdkafka's pass-through).

Then the broker restarts on the same port with the same data; without any
help wcoord must reconnect (`wcoord_kafka_brokers_up` >= 1), catch up to lag
0, and exit 0 on SIGTERM. The outputs must equal the sequential replay
(harness.check_outputs): every applied decision on the changelog, every
conflict/invalid decision on the dead-letter topic, the store equal to the
replay; under exactly_once a read_committed reader sees nothing twice."""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

import harness
from harness import (Coordinator, check, check_outputs, create_topic, finish, group_lag, http_base,
                     http_fetch, kafka_script, metric_samples, produce, racing_fixture, unique,
                     use_bootstrap, wait_until)

ap = argparse.ArgumentParser()
ap.add_argument("wcoord")
ap.add_argument("--guarantee", choices=["exactly_once", "at_least_once"], default="at_least_once",
                help="processing.guarantee (default: the service's own default)")
ap.add_argument("--outage", type=float, default=180.0, help="seconds the broker stays down")
ap.add_argument("--records", type=int, default=100_000)
args = ap.parse_args()
WCOORD = args.wcoord
EXACTLY_ONCE = args.guarantee == "exactly_once"
PORT = int(os.environ.get("OUTAGE_KAFKA_PORT", "29392"))
BROKERS_UP = "wcoord_kafka_brokers_up"
# Down/unreachable, from wcoord itself: librdkafka's own log lines, passed
# through as "[rdkafka#consumer-1] FAC: ...", do not count.
DOWN_LINE = re.compile(r"(?i)broker.*(down|unreachable)")
RDKAFKA_LINE = re.compile(r"\[rdkafka#[^\]]*\] [A-Z_]+: ")
T0 = time.monotonic()


def say(what):
    print("[%6.1fs] %s" % (time.monotonic() - T0, what), flush=True)


def brokers_up(base):
    """Value of wcoord_kafka_brokers_up (summed over label sets), or None when
    /metrics does not answer or lacks the metric."""
    status, body = http_fetch(base + "/metrics")
    if status != 200:
        return None
    samples = metric_samples(body, BROKERS_UP)
    return sum(v for _, v in samples) if samples else None


def own_down_lines(lines):
    return [l for l in lines if DOWN_LINE.search(l) and not RDKAFKA_LINE.search(l)]


def tail(lines, n=8):
    """The last lines wcoord logged itself (librdkafka's reconnect chatter
    drowns them otherwise), then the very last line."""
    own = [l for l in lines if not RDKAFKA_LINE.search(l)]
    return "\n".join(own[-n:] + (lines[-1:] if lines and lines[-1] not in own[-n:] else []))


def start_broker():
    t = time.monotonic()
    r = kafka_script(PORT, "start")
    if r.returncode != 0:
        print(r.stderr[-3000:], flush=True)
    check(r.returncode == 0, "broker on port %d starts" % PORT)
    say("broker 127.0.0.1:%d up in %.1fs" % (PORT, time.monotonic() - t))
    return r.returncode == 0


def restart(why):
    say("restarting wcoord: " + why)
    c = Coordinator(WCOORD, group, topic, state, extra=extra)
    coords.append(c)
    c.wait_assigned(timeout=120)
    return c


topic, group = unique("outage"), unique("outage")
extra = ("--set", "processing.guarantee=" + args.guarantee,
         "--set", "kafka.statistics.interval.ms=1000")
coords = []
state = tempfile.mkdtemp(prefix="wcoord-outage-")
try:
    # A clean broker of our own: a previous run that died may have left one.
    kafka_script(PORT, "stop", "--wipe")
    if not start_broker():
        finish()
    use_bootstrap("127.0.0.1:%d" % PORT)

    create_topic(topic, 4)
    records = racing_fixture(ids=5000, per_id=max(1, args.records // 5000), seed=31)
    produce(topic, records)
    total = len(records)
    say("produced %d records to %s (%s)" % (total, topic, args.guarantee))

    c = Coordinator(WCOORD, group, topic, state, extra=extra)
    coords.append(c)
    c.wait_assigned()
    base = http_base(c)
    check(base is not None, "http listener address logged")
    say("wcoord pid %d, http %s" % (c.proc.pid, base))

    def lag():
        try:
            return sum(group_lag(group, topic).values())
        except Exception as e:  # noqa: BLE001 (a broker hiccup: ask again)
            say("lag query failed: %s" % e)
            return None

    # Some progress first (a tenth of the backlog committed: transactions or
    # commits are flowing), but the broker must vanish while work is left.
    progress = {}

    def some_progress():
        n = lag()
        progress["lag"] = n
        return (n is not None and n <= total * 0.9) or c.proc.poll() is not None

    wait_until(some_progress, 120, "committed lag below %d" % (total * 0.9), interval=0.2)
    before = progress.get("lag")
    # The gauge comes from librdkafka's statistics (every second here, see
    # `extra`): await the first ones, which may come after the progress
    # above on a fast machine.
    up = {}

    def gauge_up():
        up["v"] = brokers_up(base) if base else None
        return (up["v"] or 0) >= 1 or c.proc.poll() is not None

    wait_until(gauge_up, 30, "%s >= 1" % BROKERS_UP, interval=0.2)
    up_before = up.get("v")
    before = lag()
    say("progress: lag %s of %d; %s before the outage: %s" % (before, total, BROKERS_UP, up_before))
    check(up_before is not None and up_before >= 1,
          "%s >= 1 while the broker is up (got %s)" % (BROKERS_UP, up_before))
    check(before is not None and before > 0,
          "work left when the broker goes away (lag %s; raise --records)" % before)

    # ---------------------------------------------------------- the outage
    mark = len(c.lines)
    t_stop = time.monotonic()
    r = kafka_script(PORT, "stop")
    check(r.returncode == 0, "broker stops: %s" % r.stderr[-500:])
    say("broker stopped (%.1fs); outage of %.0fs" % (time.monotonic() - t_stop, args.outage))
    outage_end = t_stop + args.outage
    exited = None
    health_bad, gauge_values, samples = [], [], 0
    while time.monotonic() < outage_end:
        if c.proc.poll() is not None:
            exited = (time.monotonic() - t_stop, c.proc.returncode)
            break
        samples += 1
        status, body = http_fetch(base + "/healthz") if base else (None, "no listener")
        if status != 200:
            health_bad.append((round(time.monotonic() - t_stop, 1), status, body[:120]))
        gauge_values.append((round(time.monotonic() - t_stop, 1), brokers_up(base) if base else None))
        time.sleep(2)
    during = c.lines[mark:]
    if exited:
        check(False, "wcoord keeps running while the broker is away (exited after %.1fs, rc=%s):\n%s"
              % (exited[0], exited[1], tail(during)))
    else:
        say("still running after %.0fs without a broker" % (time.monotonic() - t_stop))
    check(not health_bad, "GET /healthz answers 200 throughout the outage (%d of %d samples did "
          "not, e.g. %s)" % (len(health_bad), samples, health_bad[:3]))
    # librdkafka notices a refused connection at once; give it 30 s to say so.
    settled = [v for t, v in gauge_values if t >= 30] or gauge_values[-1:]
    check(bool(settled) and all(v == 0 for v in settled),
          "%s 0 while the broker is away (samples after 30s: %s)"
          % (BROKERS_UP, sorted(set(v for v in settled), key=str)))
    mine = own_down_lines(during)
    check(bool(mine), "a log line says the broker is down/unreachable (%s); librdkafka's own: %d"
          % (mine[:1] or "none of wcoord's own", len([l for l in during if DOWN_LINE.search(l)])))
    if mine:
        say("log: " + mine[0])

    # ---------------------------------------------------------- the return
    if not start_broker():
        finish()
    t_back = time.monotonic()
    if exited:
        # Failed above; a new instance finishes the stream so that the
        # outputs can still be checked.
        c = restart("its predecessor exited during the outage")
        base = http_base(c)
    # No help from outside: the same process must catch up. If it dies, that
    # is a failure, and a successor finishes so the outputs can be checked.
    deadline = time.monotonic() + 600
    caught_up = False
    while time.monotonic() < deadline:
        if c.proc.poll() is not None:
            check(False, "wcoord keeps running after the broker returned (exited %.1fs after "
                  "the return, rc=%s):\n%s" % (time.monotonic() - t_back, c.proc.returncode,
                                                 tail(c.lines)))
            if len(coords) >= 4:
                break
            c = restart("its predecessor exited after the broker returned")
            base = http_base(c)
            continue
        if lag() == 0:
            caught_up = True
            break
        time.sleep(1)
    check(caught_up, "lag 0 after the broker returned (within 600s)")
    if caught_up:
        say("lag 0 %.1fs after the broker returned" % (time.monotonic() - t_back))
        # Connected again (it just committed): the gauge must say so. Absent
        # is absent: no point waiting for it.
        up_after = brokers_up(base) if base else None
        t_up = time.monotonic()
        while up_after is not None and up_after < 1 and time.monotonic() < t_up + 30:
            time.sleep(0.5)
            up_after = brokers_up(base)
        check(up_after is not None and up_after >= 1,
              "%s >= 1 once the broker is back (got %s)" % (BROKERS_UP, up_after))
        c.stop()
        check_outputs(WCOORD, group, topic, state, EXACTLY_ONCE, event_time=1700000000000 + 3 * total)
finally:
    for c in coords:
        if c.proc.poll() is None:
            c.kill()
    shutil.rmtree(state, ignore_errors=True)
    if harness.failures:
        for i, c in enumerate(coords):
            path = os.path.join(tempfile.gettempdir(), "%s-%d.log" % (group, i + 1))
            with open(path, "w") as f:
                f.write(c.log() + "\n")
            print("wcoord log #%d (rc=%s): %s" % (i + 1, c.proc.returncode, path), flush=True)
    r = kafka_script(PORT, "stop", "--wipe")
    if r.returncode != 0:
        print("could not stop the broker on %d: %s" % (PORT, r.stderr[-500:]), flush=True)
    say("broker on %d stopped and wiped" % PORT)
finish()

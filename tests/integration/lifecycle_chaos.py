#!/usr/bin/env python3
"""Lifecycle chaos: three `wcoord run` instances in one consumer group (static
membership by default, each with its own state directory) on six input
partitions while racing mutations arrive, and meanwhile:

* kill -9 of random instances (at least 8 times), each restarted with the
  same group.instance.id and state directory;
* SIGTERM of random instances, restarted later;
* scale 3 -> 1 -> 3 (SIGTERM two, the survivor takes all partitions, one
  kill -9 of the survivor while it is alone, the two start again);
* a fourth member joins (one more kill -9 while four run) and leaves again
  with SIGTERM.

Then, without any help, the final three members must bring the group to lag 0.
Pass criteria:

* no instance exits unless killed or terminated on purpose (an unexpected exit
  is reported at once, with the instance, its exit code and its last log
  lines; the chaos restarts it as a supervisor would, the run still fails);
* every SIGTERM exits 0 within shutdown.timeout plus a margin;
* the group reaches lag 0 on its own (the last 15% of the input arrives after
  the last fault) and ends stable with every partition owned by exactly one of
  the final members; each member holds as many partitions as the group gave
  it (wcoord_assigned_partitions) and exports per-partition metrics for those
  partitions only;
* against a sequential replay of the input (`wcoord apply`), a read_committed
  reader of the changelog and of the dead-letter topic finds every applied /
  conflict / invalid decision with the replay's outcome, version and error,
  nothing else; with exactly_once nothing twice; with at_least_once a record
  published again (counted per source partition and offset) is byte-identical;
* the store of each final instance equals the replay for the documents of the
  partitions it owned at the end.

By default a quarter of the input is produced before the members start and
the rest is fed at a steady pace during the chaos: the coordinator decides
~20k records/s on two cores, so an input produced entirely up front would be
decided in a few seconds and the faults would land on an idle group.
`--upfront` produces everything before the start instead.

Usage: lifecycle_chaos.py WCOORD [--guarantee exactly_once|at_least_once]
           [--assignor cooperative|eager|range|roundrobin] [--no-static] [--full]
           [--seed N] [--records N] [--kills N] [--upfront] [--keep]
Needs TEST_KAFKA_BOOTSTRAP (a real broker, see scripts/kafka).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import harness
from harness import (Consumer, Coordinator, KafkaError, TopicPartition, check, create_topic,
                     finish, group_lag, headers_of, predict, produce, racing_fixture, read_topic,
                     store_versions, unique, wait_until)
from confluent_kafka.admin import AdminClient

PARTITIONS = 6
SHUTDOWN_TIMEOUT = 30  # s, wcoord's default shutdown.timeout (set explicitly below)
STOP_MARGIN = 10       # s on top of it for the process to be gone
LOG_TAIL = 30

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("wcoord")
ap.add_argument("--guarantee", choices=["exactly_once", "at_least_once"], default="exactly_once")
ap.add_argument("--assignor", choices=["cooperative", "eager", "range", "roundrobin"],
                default="cooperative")
ap.add_argument("--no-static", action="store_true", help="no group.instance.id")
ap.add_argument("--full", action="store_true", help=">=100k records, longer chaos")
ap.add_argument("--seed", type=int, default=20240611)
ap.add_argument("--records", type=int, help="input records (default 60k, 120k with --full)")
ap.add_argument("--kills", type=int, help="kill -9 steps (default 7, 12 with --full; "
                "the scale and fourth-member steps add one kill each)")
ap.add_argument("--upfront", action="store_true", help="produce the whole input before starting")
ap.add_argument("--keep", action="store_true", help="keep state directories and logs")
args = ap.parse_args()

EXACTLY_ONCE = args.guarantee == "exactly_once"
STRATEGY = {"cooperative": "cooperative-sticky", "eager": "range", "range": "range",
            "roundrobin": "roundrobin"}[args.assignor]
STATIC = not args.no_static
N = args.records or (120_000 if args.full else 60_000)
KILL_STEPS = args.kills if args.kills is not None else (12 if args.full else 7)
TERM_STEPS = 4 if args.full else 2
# The faults' timing (seconds): pause between two faults, time an instance
# stays down. Random on purpose; nothing waits on them for synchronisation.
PAUSE = (1.0, 5.0) if args.full else (0.3, 2.0)
DOWN = (0.3, 4.0) if args.full else (0.2, 1.5)
FEED_SECONDS = 150 if args.full else 60

T0 = time.monotonic()
rng = random.Random(args.seed)
work = tempfile.mkdtemp(prefix="lifecycle-chaos-")
lock = threading.RLock()
stats = {"kills": 0, "restarts": 0, "sigterms": 0, "supervisor_restarts": 0, "unexpected": 0}
current_step = ["setup"]


def say(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


# Startup noise left out of the log tails: the configuration dump and
# librdkafka's warnings about consumer settings given to the producers.
NOISE = re.compile(r"\[app\] config |CONFWARN")
TAIL_NOTE = " (configuration dump left out)"


def tail(lines, n=LOG_TAIL):
    kept = [l for l in lines if not NOISE.search(l)]
    return "\n".join("    | " + l for l in kept[-n:])


# --- the binary -------------------------------------------------------------
# Others rebuild build/app/wcoord while tests run: wait for it, then run a
# private copy so every incarnation (and the replay) uses one and the same build.
wait_until(lambda: os.access(args.wcoord, os.X_OK), 300, "the wcoord binary " + args.wcoord,
           interval=1)
WCOORD = os.path.join(work, "wcoord")
for attempt in range(30):
    try:
        shutil.copy2(args.wcoord, WCOORD)
        if subprocess.run([WCOORD, "--version"], capture_output=True, timeout=30).returncode == 0:
            break
    except (OSError, subprocess.SubprocessError):
        pass
    time.sleep(2)  # a rebuild is writing the file: try the copy again
else:
    check(False, "a runnable copy of " + args.wcoord)
    finish()


# --- helpers this test adds (harness.py is shared) ------------------------------

class Instance(Coordinator):
    """A Coordinator that tells when its output has been read to the end, so
    the last lines of a crashed process are there before they are printed."""

    def __init__(self, *a, **kw):
        self.eof = threading.Event()
        super().__init__(*a, **kw)

    def _pump(self):
        try:
            super()._pump()
        finally:
            self.eof.set()


def read_topic_isolated(topic, isolation_level, timeout=120):
    """Every record of a topic, per partition in offset order, read with an
    explicit isolation.level. With read_committed it first waits until no
    transaction is open on the topic (the last stable offset, which is what
    a read_committed client's watermark query answers, equals the high
    watermark), reports the partitions where one stays open, and then reads
    everything up to the last stable offset: a transaction's records only once
    it committed, never aborted ones, never control markers."""
    def ends_of(level):
        c = Consumer({"bootstrap.servers": harness.BOOTSTRAP, "group.id": unique("ends"),
                      "isolation.level": level, "enable.auto.commit": False})
        parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        out = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.close()
        return out

    if isolation_level == "read_committed":
        state = {}

        def settled():
            state["hw"], state["lso"] = ends_of("read_uncommitted"), ends_of("read_committed")
            return state["hw"] == state["lso"]

        if not wait_until(settled, timeout, "no open transaction on %s" % topic, interval=0.5):
            check(False, "transactions left open on %s: partition (last stable, high watermark) %s"
                  % (topic, {p: (state["lso"][p], state["hw"][p]) for p in state["hw"]
                             if state["lso"][p] != state["hw"][p]}))
    ends = ends_of(isolation_level)
    c = Consumer({"bootstrap.servers": harness.BOOTSTRAP, "group.id": unique("reader"),
                  "isolation.level": isolation_level, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out = {p: [] for p in ends}
    remaining = {p for p in ends if ends[p] > 0}
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            # A transactional partition ends in a control marker that is never
            # delivered: the end-of-partition event is the reliable end.
            if m.error().code() == KafkaError._PARTITION_EOF and m.offset() >= ends[m.partition()]:
                remaining.discard(m.partition())
            continue
        out[m.partition()].append(m)
        if m.offset() + 1 >= ends[m.partition()]:
            remaining.discard(m.partition())
    c.close()
    check(not remaining, "read all of %s with %s (partitions %s not to their end %s)"
          % (topic, isolation_level, sorted(remaining), ends))
    return out


def describe_group(group):
    """(state, protocol, {client.id: [member(id, partitions of `topic`)]}) as the
    group coordinator sees it (DescribeGroups)."""
    admin = AdminClient({"bootstrap.servers": harness.BOOTSTRAP})
    groups = admin.list_groups(group, timeout=10)
    if not groups:
        return None, None, {}
    g = groups[0]
    members = {}
    for m in g.members:
        members.setdefault(m.client_id, []).append(
            (m.id, sorted(harness.parse_assignment(m.assignment).get(topic, []))))
    return g.state, g.protocol, members


def owners_are(group, names):
    """The group is stable, its members are exactly `names` (one each) and
    every partition belongs to exactly one of them. Returns {name: [partitions]} or None."""
    try:
        state, _, members = describe_group(group)
    except Exception:  # the coordinator is moving: ask again
        return None
    if (state != "Stable" or sorted(members) != sorted(names)
            or any(len(v) != 1 for v in members.values())):
        return None
    owned = {name: v[0][1] for name, v in members.items()}
    every = sorted(p for ps in owned.values() for p in ps)
    return owned if every == list(range(PARTITIONS)) else None


def safe_describe(group):
    try:
        state, protocol, members = describe_group(group)
        return "%s %s %s" % (state, protocol, members)
    except Exception as e:  # for a failure message only
        return repr(e)


def instance_view(inst):
    """What an instance itself says it holds, from its /metrics:
    {"assigned": wcoord_assigned_partitions, "series": the input partitions
    it exports wcoord_restore_progress_ratio for}, or None if it does not answer."""
    m = next((re.search(r"http listening on (\S+)", l) for l in inst.lines
              if "http listening on" in l), None)
    if not m:
        return None
    try:
        with urllib.request.urlopen("http://%s/metrics" % m.group(1), timeout=5) as r:
            text = r.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return None
    view = {"assigned": None, "series": set()}
    for line in text.splitlines():
        if line.startswith("wcoord_assigned_partitions "):
            view["assigned"] = int(float(line.split()[1]))
        elif line.startswith("wcoord_restore_progress_ratio{"):
            t = re.search(r'topic="([^"]*)"', line)
            p = re.search(r'partition="(\d+)"', line)
            if t and p and t.group(1) == topic:
                view["series"].add(int(p.group(1)))
    view["series"] = sorted(view["series"])
    return view


# --- the members ----------------------------------------------------------------

class Member:
    def __init__(self, name):
        self.name = name
        self.state_dir = os.path.join(work, name + "-state")
        os.makedirs(self.state_dir)
        self.inst = None
        self.up = False          # supposed to be running
        self.reported = False    # this incarnation's unexpected exit was reported
        self.history = []        # earlier incarnations' log lines

    def extra(self):
        e = ["--set", "processing.guarantee=" + args.guarantee,
             "--set", "kafka.partition.assignment.strategy=" + STRATEGY,
             "--set", "shutdown.timeout=%ds" % SHUTDOWN_TIMEOUT,
             # names the member in the group description (with or without
             # static membership)
             "--set", "kafka.client.id=" + self.name]
        if STATIC:
            e += ["--set", "group.instance.id=" + self.name]
        return e

    def running(self):
        return self.inst is not None and self.inst.proc.poll() is None

    def start(self, why):
        with lock:
            if self.inst is not None:
                self.history += ["----- next incarnation -----"] + self.inst.lines
            self.inst = Instance(WCOORD, group, topic, self.state_dir, extra=self.extra())
            self.up, self.reported = True, False
        say("%s %s (pid %d)%s" % (why, self.name, self.inst.proc.pid,
                                  ", same instance id and state dir" if why == "restart" else ""))

    def kill(self):
        with lock:
            self.up = False
        if not self.alive_or_report("before its kill -9"):
            return
        pid = self.inst.proc.pid
        self.inst.kill()
        stats["kills"] += 1
        say("kill -9 %s (pid %d) #%d" % (self.name, pid, stats["kills"]))

    def terminate(self):
        """SIGTERM; the process must exit 0 within shutdown.timeout + a margin."""
        with lock:
            self.up = False
        if not self.alive_or_report("before its SIGTERM"):
            return None
        inst = self.inst
        started = time.monotonic()
        inst.proc.send_signal(signal.SIGTERM)
        stats["sigterms"] += 1
        limit = SHUTDOWN_TIMEOUT + STOP_MARGIN
        try:
            rc = inst.proc.wait(limit)
        except subprocess.TimeoutExpired:
            inst.proc.kill()
            inst.proc.wait()
            rc = None
        took = time.monotonic() - started
        inst.eof.wait(5)
        say("SIGTERM %s (pid %d) -> rc %s in %.1f s" % (self.name, inst.proc.pid,
                                                         "TIMEOUT" if rc is None else rc, took))
        check(rc == 0, "%s: SIGTERM exits 0 within %d s (%s after %.1f s); last %d log lines%s:\n%s"
              % (self.name, limit, "still running, killed" if rc is None else describe_rc(rc),
                 took, LOG_TAIL, TAIL_NOTE, tail(inst.lines)))
        return rc

    def alive_or_report(self, when):
        """Checks that the current incarnation still runs; reports it once if not."""
        with lock:
            inst = self.inst
            if inst is None:
                return False
            rc = inst.proc.poll()
            if rc is None:
                return True
            if self.reported:
                return False
            self.reported = True
        inst.eof.wait(5)
        stats["unexpected"] += 1
        check(False, "%s (pid %d) exited unexpectedly: %s, %s; last %d log lines%s:\n%s"
              % (self.name, inst.proc.pid, describe_rc(rc), when, LOG_TAIL, TAIL_NOTE,
                 tail(inst.lines)))
        return False

    def assigned(self):
        return self.inst.saw(r"assigned [1-9]\d* partition")


def describe_rc(rc):
    if rc is not None and rc < 0:
        try:
            return "signal " + signal.Signals(-rc).name
        except ValueError:
            return "signal %d" % -rc
    return "exit code %s" % rc


def watcher(stop):
    """Reports an instance that exits without being killed or terminated, when it happens."""
    while not stop.wait(0.1):
        for m in members.values():
            with lock:
                due = (m.up and m.inst is not None and not m.reported
                       and m.inst.proc.poll() is not None)
            if due:
                m.alive_or_report("during " + current_step[0])


def await_members(ms, what, timeout=90):
    """Waits until members `ms` have partitions; gives up early if one of them died."""
    started = time.monotonic()
    ok = wait_until(lambda: all(m.assigned() for m in ms) or any(not m.running() for m in ms),
                    timeout, what) and all(m.running() for m in ms)
    if ok:
        say("%s (%.1f s)" % (what, time.monotonic() - started))
    return ok


def await_owners(names, timeout=90):
    """Waits until exactly `names` own all partitions; returns the ownership."""
    found = {}

    def owned():
        if any(not members[n].running() for n in names):
            found["o"] = None  # a crash (the watcher reports it): the group cannot get there
            return True
        found["o"] = owners_are(group, names)
        return found["o"] is not None

    started = time.monotonic()
    wait_until(owned, timeout, "the group to be stable with %s owning all %d partitions"
               % (", ".join(names), PARTITIONS), interval=0.3)
    if found.get("o"):
        say("group stable: %s (%.1f s)" % (found["o"], time.monotonic() - started))
    return found.get("o")


def supervise():
    """Restarts members that should run but exited unexpectedly (already
    reported as a failure), as a supervisor would, so the chaos goes on."""
    for m in members.values():
        if m.up and not m.running():
            m.alive_or_report("during " + current_step[0])
            stats["supervisor_restarts"] += 1
            m.start("supervisor restart after the unexpected exit of")
            await_members([m], m.name + " assigned partitions after its supervisor restart")


def pause(span):
    # The faults' timing, random on purpose; not a synchronisation.
    time.sleep(rng.uniform(*span))


def up(names=None):
    return [m for m in members.values() if m.up and (names is None or m.name in names)]


# --- the chaos steps ----------------------------------------------------------------

def step_kill():
    cands = up()
    victims = rng.sample(cands, 2 if len(cands) >= 3 and rng.random() < 0.3 else 1)
    for v in victims:
        v.kill()
    pause(DOWN)
    for v in victims:
        v.start("restart")
        stats["restarts"] += 1
    await_members(victims, "%s assigned partitions after the restart"
                  % ", ".join(v.name for v in victims))


def step_term():
    v = rng.choice(up())
    v.terminate()
    pause(DOWN)
    v.start("restart")
    stats["restarts"] += 1
    await_members([v], "%s assigned partitions after the restart" % v.name)


def step_scale():
    core = [members[n] for n in CORE]
    survivor = rng.choice(core)
    leaving = [m for m in core if m is not survivor]
    say("scale 3 -> 1: SIGTERM %s, %s stays"
        % (" and ".join(m.name for m in leaving), survivor.name))
    for m in leaving:
        m.terminate()
    await_owners([survivor.name])
    if survivor.running():
        say("scaled to 1: %s owns all %d partitions" % (survivor.name, PARTITIONS))
    pause(PAUSE)
    survivor.kill()  # the group's only member dies
    pause(DOWN)
    survivor.start("restart")
    stats["restarts"] += 1
    await_members([survivor], survivor.name + " assigned partitions after the restart")
    pause(PAUSE)
    say("scale 1 -> 3")
    for m in leaving:
        m.start("restart")
        stats["restarts"] += 1
    await_members(leaving, "%s assigned partitions after scaling up"
                  % " and ".join(m.name for m in leaving))


def step_fourth():
    fourth = members["member-4"]
    fourth.start("add a fourth member:")
    await_members([fourth], "member-4 assigned partitions")
    pause(PAUSE)
    v = rng.choice([members[n] for n in CORE])
    v.kill()  # a kill while four members run
    pause(DOWN)
    v.start("restart")
    stats["restarts"] += 1
    await_members([v], v.name + " assigned partitions after the restart")
    pause(PAUSE)
    say("remove the fourth member")
    fourth.terminate()
    await_owners(CORE)


# --- the run ----------------------------------------------------------------

topic, group = unique("chaos"), unique("chaos")
CORE = ["member-1", "member-2", "member-3"]
members = {n: Member(n) for n in CORE + ["member-4"]}
stop_watch = threading.Event()
ids = max(100, N // 20)
records = racing_fixture(ids=ids, per_id=max(1, N // ids), seed=args.seed)
say("seed %d (--seed N to change); %d records on %d partitions; %s, %s (%s), %s membership; "
    "binary %s; work dir %s" % (args.seed, len(records), PARTITIONS, args.guarantee, args.assignor,
                                STRATEGY, "static" if STATIC else "dynamic", args.wcoord, work))
create_topic(topic, PARTITIONS)
# A quarter before the start, 60% paced during the chaos, the last 15% once
# the last fault happened, so the final members have work left to finish.
first = len(records) if args.upfront else len(records) // 4
last = len(records) if args.upfront else len(records) - len(records) * 15 // 100
produce(topic, records[:first])
say("produced %d records up front" % first)


def feed():
    # Paced on purpose: this part of the input arrives while the faults happen.
    rest = records[first:last]
    chunk = 500
    chunks = max(1, (len(rest) + chunk - 1) // chunk)
    for i in range(chunks):
        produce(topic, rest[i * chunk:(i + 1) * chunk])
        time.sleep(FEED_SECONDS / chunks)


feeder = threading.Thread(target=feed, daemon=True)
completed = False
try:
    threading.Thread(target=watcher, args=(stop_watch,), daemon=True).start()
    for n in CORE:
        members[n].start("start")
    current_step[0] = "the start"
    await_members([members[n] for n in CORE], "the three members assigned partitions")
    feeder.start()

    plan = ["kill"] * KILL_STEPS + ["term"] * TERM_STEPS + ["scale", "fourth"]
    rng.shuffle(plan)
    say("chaos plan: " + " ".join(plan))
    steps = {"kill": step_kill, "term": step_term, "scale": step_scale, "fourth": step_fourth}
    for i, kind in enumerate(plan):
        current_step[0] = "step %d/%d (%s)" % (i + 1, len(plan), kind)
        supervise()
        pause(PAUSE)
        steps[kind]()
    current_step[0] = "the end of the chaos"
    supervise()
    feeder.join()
    produce(topic, records[last:])
    say("chaos over: %d kills, %d restarts, %d SIGTERMs; all %d records produced (the last %d "
        "now); waiting for lag 0 with %s running" % (stats["kills"], stats["restarts"],
                                                     stats["sigterms"], len(records),
                                                     len(records) - last, ", ".join(CORE)))

    # The group must get there on its own: no restarts from here on.
    current_step[0] = "the final wait for lag 0"
    lag = {}

    def caught_up():
        lag.update(group_lag(group, topic))
        return sum(lag.values()) == 0

    started = time.monotonic()
    if wait_until(caught_up, 300, "lag 0 with the final members", interval=0.5):
        say("lag 0 (%.1f s after the chaos)" % (time.monotonic() - started))
    else:
        say("lag per partition after 300 s: %s; group: %s; members' own partitions: %s"
            % (lag, safe_describe(group), {n: instance_view(members[n].inst) for n in CORE}))
    owned = await_owners(CORE, 60)
    check(owned is not None, "the group ends stable with every partition owned by one of %s "
          "(group coordinator: %s)" % (", ".join(CORE), safe_describe(group)))
    views = {}

    def agree():
        views.update({n: instance_view(members[n].inst) for n in CORE})
        return owned is not None and all(views[n] and views[n]["assigned"] == len(owned[n])
                                         for n in CORE)

    if owned is None:
        views.update({n: instance_view(members[n].inst) for n in CORE})
        say("members' own view: %s" % views)
    elif not wait_until(agree, 30, "each member's wcoord_assigned_partitions to match the group"):
        check(False, "each member holds as many partitions as the group assigned it (group %s; "
              "members' own view %s)" % (owned, views))
    else:
        say("the members agree: %s" % {n: views[n]["assigned"] for n in CORE})
        # The per-partition series (restore progress, lag) an instance exports
        # must be those of the partitions it holds: none missing, none left
        # over from a partition it gave up.
        missing = {n: sorted(set(owned[n]) - set(views[n]["series"])) for n in CORE}
        stale = {n: sorted(set(views[n]["series"]) - set(owned[n])) for n in CORE}
        check(not any(missing.values()), "each member exports per-partition metrics for every "
              "partition it holds (missing: %s)" % missing)
        check(not any(stale.values()), "no member exports per-partition metrics "
              "(wcoord_restore_progress_ratio, kafka_consumergroup_lag) for partitions it no "
              "longer holds (left over: %s; the group's assignment %s)" % (stale, owned))
    if owned is None:
        # Check the stores against what the members themselves report instead.
        owned = {n: (views.get(n) or {}).get("series", []) for n in CORE}
    for n in CORE:
        members[n].alive_or_report("before the final SIGTERM")
    current_step[0] = "the final SIGTERMs"
    for n in CORE:
        members[n].terminate()
    stop_watch.set()

    # --- the outputs against the sequential replay --------------------------------
    inputs = read_topic(topic, timeout=120)
    got = sum(len(v) for v in inputs.values())
    check(got == len(records), "the input holds the %d records produced (%d)" % (len(records), got))
    expected, final = predict(WCOORD, inputs, topic)
    level = "read_committed" if EXACTLY_ONCE else "read_uncommitted"

    def outputs(name, pkey, okey, match):
        """Checks an output topic, read as a read_committed client would with
        exactly_once: every record against the replay's decision for its source
        (partition, offset) (`match` says what is wrong, or None), copies of a
        source counted and compared with the first. Returns (first copy per
        source, number of extra copies, records read)."""
        firsts, again, differing, wrong, bad = {}, [], [], [], []
        msgs = [m for ms in read_topic_isolated(name, level).values() for m in ms]
        for m in msgs:
            h = headers_of(m)
            try:
                src = (int(h[pkey]), int(h[okey]))
            except (KeyError, TypeError, ValueError):
                bad.append(h)
                continue
            if src in firsts:
                again.append(src)
                if firsts[src].value() != m.value():
                    differing.append(src)
                continue
            firsts[src] = m
            why = match(m, expected.get(src, {}))
            if why:
                wrong.append((src, why))
        check(not bad, "%s: every record names its source (%d do not, e.g. %s)"
              % (name, len(bad), bad[:2]))
        check(not wrong, "%s: every record is a decision the replay makes (%d are not, e.g. %s)"
              % (name, len(wrong), wrong[:3]))
        check(not differing, "%s: a record published again is identical (%d differ, e.g. %s)"
              % (name, len(differing), differing[:3]))
        if EXACTLY_ONCE:
            check(not again, "%s: exactly once, nothing twice (%d records again, e.g. sources %s)"
                  % (name, len(again), again[:5]))
        return firsts, len(again), len(msgs)

    def changelog_match(m, exp):
        v = json.loads(m.value())
        h = headers_of(m)
        if h.get("wcoord.source.topic") != topic:
            return "source topic %r" % h.get("wcoord.source.topic")
        if m.partition() != int(h["wcoord.source.partition"]):
            return "in partition %d, not its source's" % m.partition()
        if m.key() != ("%s/%s" % (v.get("_index"), v.get("_id"))).encode():
            return "key %r for %r/%r" % (m.key(), v.get("_index"), v.get("_id"))
        got = (v.get("_index"), v.get("_id"), v.get("_version"), v.get("result"))
        want = (exp.get("_index"), exp.get("_id"), exp.get("_version"), exp.get("result"))
        if exp.get("outcome") != "applied" or got != want:
            return "%s, the replay: %s %s" % (got, exp.get("outcome"), want)
        return None

    def dlq_match(m, exp):
        v = json.loads(m.value())
        h = headers_of(m)
        if h.get("__connect.errors.topic") != topic:
            return "source topic %r" % h.get("__connect.errors.topic")
        err, xerr = v.get("error") or {}, exp.get("error") or {}
        got = (v.get("outcome"), v.get("status"), err.get("type"), err.get("reason"))
        want = (exp.get("outcome"), exp.get("status"), xerr.get("type"), xerr.get("reason"))
        if exp.get("outcome") not in ("conflict", "invalid") or got != want:
            return "%s, the replay: %s" % (got, want)
        return None

    cl, cl_dupes, cl_read = outputs(group + ".changelog", "wcoord.source.partition",
                                    "wcoord.source.offset", changelog_match)
    applied = {w for w, b in expected.items() if b["outcome"] == "applied"}
    missing = sorted(applied - set(cl))
    check(not missing, "every applied decision is on the changelog (%d of %d missing, e.g. %s)"
          % (len(missing), len(applied), missing[:5]))
    dl, dl_dupes, dl_read = outputs(group + ".dlq", "__connect.errors.partition",
                                    "__connect.errors.offset", dlq_match)
    refused = {w for w, b in expected.items() if b["outcome"] in ("conflict", "invalid")}
    missing = sorted(refused - set(dl))
    check(not missing, "every conflict and invalid decision is on the dead-letter topic "
          "(%d of %d missing, e.g. %s)" % (len(missing), len(refused), missing[:5]))
    say("changelog: %d records read, %d sources, %d again; dead letters: %d read, %d sources, "
        "%d again" % (cl_read, len(cl), cl_dupes, dl_read, len(dl), dl_dupes))

    # Each final member's store, for the documents of the partitions it owned.
    event_time = 1700000000000 + 3 * len(records)
    docs_of = {}
    for (p, _), b in expected.items():
        if b.get("_id") is not None and b.get("_index") is not None:
            docs_of.setdefault(p, set()).add((b["_index"], b["_id"]))
    for n in CORE:
        parts = owned.get(n, [])
        docs = sorted(d for p in parts for d in docs_of.get(p, ()))
        now = store_versions(WCOORD, members[n].state_dir, docs, event_time=event_time)
        differ = [d for d in docs if now.get(d) != final.get(d)]
        check(not differ, "%s's store equals the replay for its partitions %s (%d of %d documents "
              "differ, e.g. %s)" % (n, parts, len(differ), len(docs),
                                    [(d, now.get(d), final.get(d)) for d in differ[:3]]))
        say("%s: store checked for partitions %s (%d documents, %d differ)"
            % (n, parts, len(docs), len(differ)))

    check(stats["kills"] >= 8 or args.kills is not None, "at least 8 kills (%d)" % stats["kills"])
    print("summary: seed %d, %s, %s, %s membership: kills %d, restarts %d (+%d after unexpected "
          "exits), SIGTERMs %d, unexpected exits %d, records %d, changelog records checked %d, "
          "dead letters checked %d, duplicates found %d (changelog %d, dead letters %d), %.0f s"
          % (args.seed, args.guarantee, STRATEGY, "static" if STATIC else "dynamic",
             stats["kills"], stats["restarts"], stats["supervisor_restarts"], stats["sigterms"],
             stats["unexpected"], len(records), cl_read, dl_read, cl_dupes + dl_dupes,
             cl_dupes, dl_dupes, time.monotonic() - T0), flush=True)
    completed = True
finally:
    stop_watch.set()
    for m in members.values():
        if m.running():
            m.up = False
            m.inst.proc.kill()
            m.inst.proc.wait()
    keep = args.keep or bool(harness.failures) or not completed
    if keep:
        for m in members.values():
            if m.inst is not None:
                with open(os.path.join(work, m.name + ".log"), "w") as f:
                    f.write("\n".join(m.history + ["----- last incarnation -----"]
                                      + m.inst.lines) + "\n")
        say("logs (member-N.log) and state kept in " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
finish()

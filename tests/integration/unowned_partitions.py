#!/usr/bin/env python3
"""Unowned partitions after a static member's crash mid-revoke (KAFKA-9821's
hazard) against a real broker: wcoord must get every partition an owner
again by itself.

With the cooperative protocol (cooperative-sticky, wcoord's default) the
group leader holds a moving partition back for one round: its old owner
revokes it and REJOINS, and that second rebalance assigns it. With static
membership (group.instance.id), if the old owner is killed during its revoke
(before it rejoins) and comes back with the same instance id within
session.timeout.ms, the broker hands it its stored assignment without a
rebalance: nobody rejoins, the group is Stable, and the held-back partitions
have no owner, for good.

The scenario:

  * member-a (static, its own state dir, session.timeout.ms 30 s,
    exactly_once with commit.interval.ms 5000, so its revoke waits for a
    transaction commit while records are in flight) owns all 6 partitions
    while ~2k records/s arrive;
  * member-b and member-c (same settings) start at the same moment; the
    leader takes 4 partitions away from member-a and gives them to nobody
    in this round;
  * as soon as member-a logs "revoking N partition(s)", it is killed (-9)
    and started again at once with the same instance id and state dir.

The test then watches the group (ListGroups/DescribeGroups, the assignment
decoded from the member metadata): the hazard reproduced when the group is
Stable with its three members and some partitions owned by nobody. Pass
criteria, hazard or not:

  * within --recovery-timeout seconds of the kill every partition has an
    owner again (the group Stable, one member each), with no help;
  * the group reaches lag 0 on everything produced; no instance exits on its
    own meanwhile;
  * SIGTERM stops each member with exit code 0;
  * against the sequential replay (`wcoord apply`), read_committed readers of
    the changelog and the dead-letter topic find every applied / conflict /
    invalid decision exactly once (with exactly_once) with the replay's
    outcome, and each member's store equals the replay for the partitions it
    owned at the end.

It prints "hazard reproduced: partitions [..] unowned for N s, recovered
after M s" (or "... not recovered within ...") or "hazard not reproduced this
run" (the kill came too late: the revoke had already ended, or members b and
c joined in different rounds); --attempts N retries the set-up (a fresh
group) until the hazard reproduces.

Usage: unowned_partitions.py WCOORD [--health-interval 2s] [--recovery-timeout 120]
           [--guarantee exactly_once|at_least_once] [--rate 2000] [--attempts 1]
           [--require-hazard] [--no-kill] [--keep]
Needs TEST_KAFKA_BOOTSTRAP (a real broker, see scripts/kafka).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import harness
from harness import (Coordinator, Producer, check, create_topic, finish, group_lag, headers_of,
                     predict, racing_fixture, read_topic, store_versions, unique, wait_until)
from confluent_kafka.admin import AdminClient

PARTITIONS = 6
NAMES = ["member-a", "member-b", "member-c"]
SHUTDOWN_TIMEOUT = 30
LOG_TAIL = 25

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("wcoord")
ap.add_argument("--health-interval", default="2s",
                help="group.health.interval of every member (when the binary has the key)")
ap.add_argument("--recovery-timeout", type=float, default=120,
                help="seconds after the kill for every partition to have an owner again")
ap.add_argument("--guarantee", choices=["exactly_once", "at_least_once"], default="exactly_once")
ap.add_argument("--rate", type=int, default=2000, help="records/s produced while the test runs")
ap.add_argument("--attempts", type=int, default=1,
                help="set-ups (a fresh group each) until the hazard reproduces")
ap.add_argument("--require-hazard", action="store_true",
                help="fail when the hazard did not reproduce")
ap.add_argument("--no-kill", action="store_true",
                help="calibration: no kill; reports how long member-a's revoke takes")
ap.add_argument("--seed", type=int, default=9821)
ap.add_argument("--keep", action="store_true", help="keep state directories and logs")
args = ap.parse_args()

EXACTLY_ONCE = args.guarantee == "exactly_once"
T0 = time.monotonic()
work = tempfile.mkdtemp(prefix="unowned-partitions-")


def stamp(line):
    """Wall-clock seconds of a wcoord log line (text format: ISO time first)."""
    try:
        return datetime.datetime.fromisoformat(line.split()[0]).timestamp()
    except (ValueError, IndexError):
        return None


def say(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


NOISE = re.compile(r"\[app\] config |CONFWARN")


def tail(lines, n=LOG_TAIL):
    kept = [l for l in lines if not NOISE.search(l)]
    return "\n".join("    | " + l for l in kept[-n:])


# --- the binary: a private copy (others rebuild build/app/wcoord) ----------------
wait_until(lambda: os.access(args.wcoord, os.X_OK), 300, "the wcoord binary " + args.wcoord,
           interval=1)
WCOORD = os.path.join(work, "wcoord")
for _ in range(30):
    try:
        shutil.copy2(args.wcoord, WCOORD)
        if subprocess.run([WCOORD, "--version"], capture_output=True, timeout=30).returncode == 0:
            break
    except (OSError, subprocess.SubprocessError):
        pass
    time.sleep(2)  # a rebuild is writing the file: copy again
else:
    check(False, "a runnable copy of " + args.wcoord)
    finish()
HELP = subprocess.run([WCOORD, "run", "--help"], capture_output=True, text=True, timeout=30)
HAS_HEALTH = "group.health.interval" in HELP.stdout + HELP.stderr


# --- the group as the group coordinator sees it (as lifecycle_chaos.py) -------------

def describe_group(group, topic):
    """(state, {client.id: [partitions of `topic`] per member}) or None while
    the coordinator does not answer."""
    try:
        groups = AdminClient({"bootstrap.servers": harness.BOOTSTRAP}).list_groups(group, timeout=10)
    except Exception:  # the coordinator is moving: ask again
        return None
    if not groups:
        return None
    members = {}
    for m in groups[0].members:
        members.setdefault(m.client_id, []).append(
            sorted(harness.parse_assignment(m.assignment).get(topic, [])))
    return groups[0].state, members


def unowned_of(members):
    owned = {p for ps in members.values() for one in ps for p in one}
    return sorted(set(range(PARTITIONS)) - owned)


def show(desc):
    if desc is None:
        return "(no answer)"
    state, members = desc
    return "%s %s unowned %s" % (state, {n: v if len(v) > 1 else v[0]
                                         for n, v in sorted(members.items())}, unowned_of(members))


# --- the members ---------------------------------------------------------------

class Instance(Coordinator):
    """A Coordinator whose output pump can kill the process the moment a log
    line matches (the fault: a kill -9 in the middle of the revoke)."""

    def __init__(self, *a, **kw):
        self.eof = threading.Event()
        self.kill_on = None       # compiled pattern: SIGKILL when a line matches
        self.killed = threading.Event()
        self.kill_line = None
        self.kill_at = None
        self.kill_wall = None
        super().__init__(*a, **kw)

    def _pump(self):
        try:
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                self.lines.append(line)
                if self.kill_on is not None and not self.killed.is_set() and self.kill_on.search(line):
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.kill_at = time.monotonic()
                    self.kill_wall = time.time()
                    self.kill_line = line
                    self.killed.set()
        finally:
            self.eof.set()


class Member:
    def __init__(self, name, group, topic):
        self.name, self.group, self.topic = name, group, topic
        self.state_dir = os.path.join(work, group, name + "-state")
        os.makedirs(self.state_dir)
        self.inst = None
        self.history = []

    def extra(self):
        e = ["--set", "processing.guarantee=" + args.guarantee,
             "--set", "commit.interval.ms=5000",
             "--set", "kafka.partition.assignment.strategy=cooperative-sticky",
             "--set", "group.instance.id=" + self.name,
             "--set", "kafka.client.id=" + self.name,
             # a restart within the session timeout keeps the static member
             "--set", "kafka.session.timeout.ms=30000",
             "--set", "shutdown.timeout=%ds" % SHUTDOWN_TIMEOUT]
        if HAS_HEALTH:
            e += ["--set", "group.health.interval=" + args.health_interval]
        return e

    def start(self, why="start"):
        if self.inst is not None:
            self.history += ["----- next incarnation -----"] + self.inst.lines
        self.inst = Instance(WCOORD, self.group, self.topic, self.state_dir, extra=self.extra())
        say("%s %s (pid %d)" % (why, self.name, self.inst.proc.pid))

    def running(self):
        return self.inst is not None and self.inst.proc.poll() is None

    def alive(self, when):
        if self.inst is None:
            return False  # never started (an earlier step failed)
        if self.running():
            return True
        self.inst.eof.wait(5)
        check(False, "%s (pid %d) exited on its own (rc %s) %s; last lines:\n%s"
              % (self.name, self.inst.proc.pid, self.inst.proc.returncode, when,
                 tail(self.inst.lines)))
        return False

    def terminate(self):
        inst = self.inst
        started = time.monotonic()
        inst.proc.send_signal(signal.SIGTERM)
        limit = SHUTDOWN_TIMEOUT + 10
        try:
            rc = inst.proc.wait(limit)
        except subprocess.TimeoutExpired:
            inst.proc.kill()
            inst.proc.wait()
            rc = None
        inst.eof.wait(5)
        took = time.monotonic() - started
        say("SIGTERM %s -> rc %s in %.1f s" % (self.name, "TIMEOUT" if rc is None else rc, took))
        if took >= SHUTDOWN_TIMEOUT:
            say("note: %s needed all of shutdown.timeout (%d s) to stop; last lines:\n%s"
                % (self.name, SHUTDOWN_TIMEOUT, tail(inst.lines, 6)))
        check(rc == 0, "%s: SIGTERM exits 0 within %d s (rc %s); last lines:\n%s"
              % (self.name, limit, rc, tail(inst.lines)))

    def stop_hard(self):
        if self.running():
            self.inst.proc.kill()
            self.inst.proc.wait()

    def save_log(self):
        if self.inst is not None:
            with open(os.path.join(work, self.group, self.name + ".log"), "w") as f:
                f.write("\n".join(self.history + ["----- last incarnation -----"]
                                  + self.inst.lines) + "\n")


class Feeder(threading.Thread):
    """Produces `records` at `rate` records/s until stopped (paced on purpose:
    records must be in flight when the revoke comes)."""

    def __init__(self, topic, records, rate):
        super().__init__(daemon=True)
        self.topic, self.records, self.rate = topic, records, rate
        self.stop_ev = threading.Event()
        self.sent = 0
        self.errors = []

    def run(self):
        p = Producer({"bootstrap.servers": harness.BOOTSTRAP, "enable.idempotence": True,
                      "linger.ms": 5})
        tick = 0.05
        per_tick = max(1, int(self.rate * tick))
        next_at = time.monotonic()
        while not self.stop_ev.is_set() and self.sent < len(self.records):
            for k, v in self.records[self.sent:self.sent + per_tick]:
                while True:
                    try:
                        p.produce(self.topic, key=k, value=v,
                                  on_delivery=lambda err, msg: err and self.errors.append(err))
                        break
                    except BufferError:
                        p.poll(0.1)
            self.sent = min(len(self.records), self.sent + per_tick)
            p.poll(0)
            next_at += tick
            time.sleep(max(0.0, next_at - time.monotonic()))
        p.flush(60)

    def stop(self):
        self.stop_ev.set()
        self.join(90)
        check(not self.errors, "every produced record delivered (%s)" % self.errors[:3])
        return self.sent


# --- one attempt: set-up, the fault, the watch -------------------------------------------

def attempt(no):
    """Returns a dict describing the attempt (its group, topic, members, feeder,
    hazard observations)."""
    topic, group = unique("unowned"), unique("unowned")
    os.makedirs(os.path.join(work, group))
    members = {n: Member(n, group, topic) for n in NAMES}
    a, b, c = (members[n] for n in NAMES)
    rec = {"group": group, "topic": topic, "members": members, "hazard": None}
    create_topic(topic, PARTITIONS)
    # Enough input for the whole attempt at the given rate.
    budget = int(args.rate * (args.recovery_timeout + 90))
    records = racing_fixture(ids=max(200, budget // 50), per_id=50, seed=args.seed + no)
    feeder = Feeder(topic, records, args.rate)
    rec["feeder"] = feeder
    say("attempt %d: group %s, topic %s (%d partitions), %s, commit.interval.ms 5000, "
        "cooperative-sticky, static members, session.timeout.ms 30000, group.health.interval %s"
        % (no, group, topic, PARTITIONS, args.guarantee,
           args.health_interval if HAS_HEALTH else "(not in this binary)"))
    feeder.start()

    a.start()
    if not wait_until(lambda: a.inst.saw(r"assigned 6 partition") or not a.running(), 60,
                      "member-a assigned all 6 partitions") or not a.alive("at its start"):
        return rec
    # Processing for real: every partition has a committed offset (a first
    # transaction committed), and records keep coming.
    wait_until(lambda: all(v < args.rate for v in group_lag(group, topic).values())
               and min(committed(group, topic).values()) > 0, 60,
               "member-a committed on every partition and keeps up")
    say("member-a owns %s and keeps up; group: %s" % (PARTITIONS, show(describe_group(group, topic))))

    # The fault: kill -9 the moment member-a starts revoking.
    if not args.no_kill:
        a.inst.kill_on = re.compile(r"revoking \d+ partition")
    b.start()
    c.start()
    revoking = (lambda: a.inst.saw(r"revoking \d+ partition")) if args.no_kill \
        else a.inst.killed.is_set
    if not wait_until(lambda: revoking() or not a.running(), 60,
                      "member-a revoking partitions after member-b and member-c joined"):
        return rec
    if args.no_kill:
        killed_at = time.monotonic()
        kill_line = next(l for l in a.inst.lines if re.search(r"revoking \d+ partition", l))
        say("no kill (--no-kill): member-a: %s" % kill_line)
    else:
        old = a.inst
        killed_at, kill_line = old.kill_at, old.kill_line
        old.proc.wait()
        a.start("restart (same group.instance.id and state dir)")
        logged = stamp(kill_line)
        say("kill -9 member-a %s after it logged: %s" % (
            "%.0f ms" % (1000 * (old.kill_wall - logged)) if logged else "right", kill_line))
    rec["killed_at"] = killed_at
    m = re.search(r"\[([\d,]+)\]", kill_line)
    rec["revoked"] = [int(p) for p in m.group(1).split(",")] if m else None

    # Watch the group until every partition has an owner again (or the bound).
    hazard = {"first": None, "last": None, "partitions": set(), "recovered": None}
    samples = []

    def settled():
        if any(not m.running() for m in members.values()):
            return True  # reported below
        desc = describe_group(group, topic)
        now = time.monotonic()
        if desc is None:
            return False
        state, ms = desc
        if not samples or samples[-1][1] != show(desc):
            samples.append((now - killed_at, show(desc)))
        whole = (state == "Stable" and sorted(ms) == NAMES and all(len(v) == 1 for v in ms.values()))
        if not whole:
            return False
        un = unowned_of(ms)
        if un:
            # Only once the restarted member-a has its assignment: before,
            # the group may still hold its old member.
            if not args.no_kill and a.inst.saw(r"assigned \d+ partition"):
                hazard["first"] = hazard["first"] or now
                hazard["last"] = now
                hazard["partitions"].update(un)
            return False
        hazard["recovered"] = now
        return True

    ok = wait_until(settled, args.recovery_timeout, "every partition has an owner again "
                    "(group Stable, one member each) within %.0f s of the kill"
                    % args.recovery_timeout, interval=0.5)
    for m in members.values():
        ok = m.alive("while the group should recover") and ok
    rec["samples"] = samples
    rec["settled"] = ok
    if hazard["first"] is not None:
        rec["hazard"] = hazard
        if ok:
            say("hazard reproduced: partitions %s unowned for %.1f s, recovered after %.1f s"
                % (sorted(hazard["partitions"]), hazard["recovered"] - hazard["first"],
                   hazard["recovered"] - killed_at))
        else:
            say("hazard reproduced: partitions %s unowned for %.1f s, NOT recovered within "
                "%.0f s of the kill" % (sorted(hazard["partitions"]),
                                        hazard["last"] - hazard["first"],
                                        args.recovery_timeout))
    elif args.no_kill:
        # How long the revoke holds the partitions back: from member-a's
        # "revoking" line to the follow-up rebalance's assignment of them.
        given = [stamp(l) for n in ("member-b", "member-c") for l in members[n].inst.lines
                 if re.search(r"assigned [1-9]\d* partition", l)]
        t1 = stamp(kill_line)
        say("calibration (no kill): member-a's revoke plus the follow-up rebalance held the "
            "partitions back %s (log times); the group settled %.1f s after the line was seen"
            % ("%.1f s" % (min(given) - t1) if given and t1 else "(no assignment line)",
               (hazard["recovered"] or time.monotonic()) - killed_at))
    else:
        say("hazard not reproduced this run (%s)" % (
            "the group settled with every partition owned %.1f s after the kill"
            % (hazard["recovered"] - killed_at) if ok else "never Stable with unowned partitions"))
    say("the group after the %s (seconds since: state, assignment):\n%s"
        % ("revoking line" if args.no_kill else "kill", "\n".join("    %6.1f  %s" % s for s in samples)))
    return rec


def committed(group, topic):
    """Committed offset per partition (-1 for none)."""
    c = harness.Consumer({"bootstrap.servers": harness.BOOTSTRAP, "group.id": group,
                          "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        tps = [harness.TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
    finally:
        c.close()


def log_lines(m, pattern):
    rx = re.compile(pattern)
    lines = m.history + ["----- last incarnation -----"] + (m.inst.lines if m.inst else [])
    return [l for l in lines if rx.search(l) or l.startswith("----- ")]


# --- the run ---------------------------------------------------------------------

attempts = []
completed = False
try:
    say("binary %s (copy %s); broker %s; work dir %s" % (args.wcoord, WCOORD, harness.BOOTSTRAP, work))
    if not HAS_HEALTH:
        say("note: this binary has no group.health.interval; the members run without it")
    for no in range(1, args.attempts + 1):
        rec = attempt(no)
        attempts.append(rec)
        if rec["hazard"] is not None or no == args.attempts or harness.failures:
            break
        # Not reproduced: clean this attempt up and set up again.
        say("setting up again (attempt %d of %d)" % (no + 1, args.attempts))
        rec["feeder"].stop()
        for m in rec["members"].values():
            m.stop_hard()

    rec = attempts[-1]
    group, topic, members, feeder = rec["group"], rec["topic"], rec["members"], rec["feeder"]
    reproduced = rec["hazard"] is not None
    for name in NAMES:
        say("%s log (rebalances):\n%s" % (name, "\n".join(
            "    | " + l for l in log_lines(members[name], r"revoking|assigned \d+ partition|"
                                           r"no owner|rejoin|not drained|still in flight"))))
    if args.require_hazard:
        check(reproduced, "the hazard reproduced in %d attempt(s)" % len(attempts))

    # Whatever happened: the group must finish everything produced by itself.
    sent = feeder.stop()
    say("stopped producing: %d records" % sent)
    lag = {}

    def caught_up():
        lag.update(group_lag(group, topic))
        return sum(lag.values()) == 0 or any(not m.running() for m in members.values())

    if rec.get("settled"):
        started = time.monotonic()
        if wait_until(caught_up, 90, "lag 0", interval=0.5) and sum(lag.values()) == 0:
            say("lag 0 (%.1f s after the producer stopped)" % (time.monotonic() - started))
        else:
            say("lag per partition: %s; group: %s" % (lag, show(describe_group(group, topic))))
    else:
        lag.update(group_lag(group, topic))
        check(False, "lag 0 (not tried: partitions without an owner); lag %s; group: %s"
              % (lag, show(describe_group(group, topic))))
    for m in members.values():
        m.alive("before the final SIGTERM")
    desc = describe_group(group, topic)
    owned = {n: v[0] for n, v in desc[1].items()} if desc and all(
        len(v) == 1 for v in desc[1].values()) else {}
    for m in members.values():
        if m.running():
            m.terminate()

    if sum(lag.values()) == 0:
        # --- the outputs against the sequential replay --------------------------
        inputs = read_topic(topic, timeout=120)
        got = sum(len(v) for v in inputs.values())
        check(got == sent, "the input holds the %d records produced (%d)" % (sent, got))
        expected, final = predict(WCOORD, inputs, topic)

        def outputs(name, pkey, okey, match):
            firsts, again, differing, wrong, bad = {}, [], [], [], []
            msgs = [m for ms in read_topic(name, timeout=120).values() for m in ms]
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
                why = match(json.loads(m.value()), expected.get(src, {}))
                if why:
                    wrong.append((src, why))
            check(not bad, "%s: every record names its source (%d do not)" % (name, len(bad)))
            check(not wrong, "%s: every record is a decision the replay makes (%d are not, e.g. %s)"
                  % (name, len(wrong), wrong[:3]))
            check(not differing, "%s: a record published again is identical (%d differ)"
                  % (name, len(differing)))
            if EXACTLY_ONCE:
                check(not again, "%s: exactly once, nothing twice (%d again, e.g. %s)"
                      % (name, len(again), again[:5]))
            return firsts, len(again), len(msgs)

        def changelog_match(v, exp):
            got = (v.get("_index"), v.get("_id"), v.get("_version"), v.get("result"))
            want = (exp.get("_index"), exp.get("_id"), exp.get("_version"), exp.get("result"))
            return None if exp.get("outcome") == "applied" and got == want else (got, exp)

        def dlq_match(v, exp):
            err, xerr = v.get("error") or {}, exp.get("error") or {}
            deep = exp.get("outcome") == "conflict"  # an invalid record's reason may differ
            got = (v.get("outcome"), v.get("status"), deep and err.get("reason"))
            want = (exp.get("outcome"), exp.get("status"), deep and xerr.get("reason"))
            ok = exp.get("outcome") in ("conflict", "invalid") and got == want
            return None if ok else (got, want)

        cl, cl_again, cl_read = outputs(group + ".changelog", "wcoord.source.partition",
                                        "wcoord.source.offset", changelog_match)
        applied = {w for w, x in expected.items() if x["outcome"] == "applied"}
        missing = sorted(applied - set(cl))
        check(not missing, "every applied decision is on the changelog (%d of %d missing, e.g. %s)"
              % (len(missing), len(applied), missing[:5]))
        dl, dl_again, dl_read = outputs(group + ".dlq", "__connect.errors.partition",
                                        "__connect.errors.offset", dlq_match)
        refused = {w for w, x in expected.items() if x["outcome"] in ("conflict", "invalid")}
        missing = sorted(refused - set(dl))
        check(not missing, "every conflict and invalid decision is on the dead-letter topic "
              "(%d of %d missing, e.g. %s)" % (len(missing), len(refused), missing[:5]))
        say("outputs: %d inputs; changelog %d records for %d applied (%d again); dead letters %d "
            "for %d conflict/invalid (%d again)" % (got, cl_read, len(applied), cl_again, dl_read,
                                                     len(refused), dl_again))
        docs_of = {}
        for (p, _), x in expected.items():
            if x.get("_id") is not None and x.get("_index") is not None:
                docs_of.setdefault(p, set()).add((x["_index"], x["_id"]))
        for n in NAMES:
            parts = owned.get(n, [])
            docs = sorted(d for p in parts for d in docs_of.get(p, ()))
            now = store_versions(WCOORD, members[n].state_dir, docs,
                                 event_time=1700000000000 + 3 * sent)
            differ = [d for d in docs if now.get(d) != final.get(d)]
            check(not differ, "%s's store equals the replay for its partitions %s (%d of %d differ, "
                  "e.g. %s)" % (n, parts, len(differ), len(docs),
                                [(d, now.get(d), final.get(d)) for d in differ[:3]]))
            say("%s: store checked for partitions %s (%d documents, %d differ)"
                % (n, parts, len(docs), len(differ)))
    else:
        say("outputs not checked: the group never reached lag 0")

    h = rec["hazard"]
    if args.no_kill:
        verdict = "calibration without a kill"
    elif h is None:
        verdict = "hazard not reproduced this run"
    elif h["recovered"] is not None:
        verdict = "hazard reproduced: partitions %s unowned for %.1f s, recovered after %.1f s" % (
            sorted(h["partitions"]), h["recovered"] - h["first"], h["recovered"] - rec["killed_at"])
    else:
        verdict = "hazard reproduced: partitions %s unowned for at least %.1f s, not recovered " \
                  "within %.0f s" % (sorted(h["partitions"]), h["last"] - h["first"],
                                     args.recovery_timeout)
    print("summary: %s (attempt %d of at most %d; member-a revoking %s); %s; %.0f s"
          % (verdict, len(attempts), args.attempts, rec.get("revoked"), args.guarantee,
             time.monotonic() - T0), flush=True)
    completed = True
finally:
    for r in attempts:
        if not r["feeder"].stop_ev.is_set():
            r["feeder"].stop_ev.set()
        for m in r["members"].values():
            m.stop_hard()
    keep = args.keep or bool(harness.failures) or not completed
    if keep:
        for r in attempts:
            for m in r["members"].values():
                m.save_log()
        say("logs (GROUP/member-*.log) and state kept in " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
finish()

#!/usr/bin/env python3
"""The state directory fills up mid-run, again and again.

usage: disk_full.py WCOORD [--cycles N] [--records N]

The RocksDB state lives on a small tmpfs (mounted here: needs root; without
the right to mount the test prints SKIP and exits 77). Racing records with
documents of 1-3 KB and many conflicts (dead letters) fill it while wcoord
(at_least_once) works; a store write then fails and the process must stop
by itself with exit code 70 (the designed fail-stop: nothing acknowledged
after a failed write). The tmpfs then gets a little more room, wcoord
restarts on the same state and fills it again; after --cycles fill-ups it
gets plenty of room (512 MiB) and must catch up to lag 0 and exit 0 on
SIGTERM. Then, against the sequential replay (harness.check_outputs):
every applied decision is on the changelog, every conflict and invalid
decision on the dead-letter topic (a record published twice must be
identical), and the store equals the replay.

What this catches: a dead letter lost in a crash must be published again
by the replay after the restart. The changelog restore must not mark a
document as decided up to a later offset (whose changelog record was
delivered before the crash) and so make the replay skip an earlier record
of it whose dead letter never reached the broker."""
import argparse
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time

import harness
from harness import (Coordinator, check, check_outputs, create_topic, finish, group_lag, produce,
                     unique, wait_until)

ap = argparse.ArgumentParser()
ap.add_argument("wcoord")
ap.add_argument("--cycles", type=int, default=3, help="fill-ups before the room is made")
ap.add_argument("--records", type=int, default=40_000)
ap.add_argument("--ids", type=int, default=3000,
                help="documents; a store batch writes each once, so few ids write little")
ap.add_argument("--first-size-mb", type=int, default=12, help="tmpfs size of the first run")
ap.add_argument("--grow-mb", type=int, default=6, help="room added after each fill-up")
args = ap.parse_args()
WCOORD = args.wcoord
SKIP = 77
T0 = time.monotonic()


def say(what):
    print("[%6.1fs] %s" % (time.monotonic() - T0, what), flush=True)


def usage_mb(path):
    st = os.statvfs(path)
    return ((st.f_blocks - st.f_bfree) * st.f_frsize / 2**20, st.f_blocks * st.f_frsize / 2**20)


def fixture(ids, n, seed):
    """Racing writers on few documents (so most records of a document are
    in flight together), bodies of 1-3 KB: internal-version read-modify-write
    races (conflicts), replicas with external versions (applied or stale),
    creates of existing documents (conflicts), deletes, malformed records."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    recs, ts = [], 1700000000000
    for k in range(n):
        doc_id = "doc-%d" % rng.randrange(ids)
        ts += rng.randrange(3)
        pad = "".join(rng.choices(alphabet, k=rng.randrange(1000, 3000)))
        kind = rng.random()
        if kind < 0.45:
            m = {"op": "index", "id": doc_id, "version": rng.randrange(1, 8),
                 "doc": {"n": k, "w": "svc", "pad": pad}}
        elif kind < 0.70:
            m = {"op": "index", "id": doc_id, "version_type": "external",
                 "version": rng.randrange(1, 200), "doc": {"n": k, "w": "sync", "pad": pad}}
        elif kind < 0.80:
            m = {"op": "create", "id": doc_id, "doc": {"n": k, "pad": pad}}
        elif kind < 0.88:
            m = {"op": "delete", "id": doc_id}
        else:
            m = {"op": "index", "id": doc_id, "doc": {"n": k, "pad": pad}}
        m["timestamp"] = ts
        value = json.dumps(m).encode()
        if k % 53 == 7:
            value = value[: len(value) // 2]  # truncated: invalid
        recs.append((doc_id.encode(), value))
    return recs


def mount(size_mb, remount=False):
    opts = "size=%dm" % size_mb
    cmd = ["mount", "-o", "remount," + opts, mnt] if remount else \
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt]
    return subprocess.run(cmd, capture_output=True, text=True)


mnt = tempfile.mkdtemp(prefix="wcoord-diskfull-")
r = mount(args.first_size_mb)
if r.returncode != 0:
    print("SKIP: cannot mount a tmpfs on %s (%s): this test needs root or CAP_SYS_ADMIN"
          % (mnt, (r.stderr or r.stdout).strip()), flush=True)
    os.rmdir(mnt)
    sys.exit(SKIP)

state = os.path.join(mnt, "state")
topic, group = unique("diskfull"), unique("diskfull")
# Memtables (64 MiB) larger than any disk a fill-up run gets: RocksDB does
# not switch and flush them mid-run, so the write-ahead log only grows and
# each run fills its disk after the room it was given. (With the default
# 16 MiB memtables a flush frees the log, and a disk above ~30 MB never
# fills.) A restart recovers the log into a small table file and deletes it,
# so each fill-up needs only a little more room than the last. RocksDB
# preallocates ~1.1 memtables of log when it can: the last run, with room,
# uses ~70 MB of its 512 MiB tmpfs.
EXTRA = ("--set", "store.write.buffer.bytes=%d" % (128 << 20))
coords = []
try:
    create_topic(topic, 4)
    records = fixture(ids=args.ids, n=args.records, seed=47)
    produce(topic, records)
    total = len(records)
    say("produced %d records (%.0f MB) to %s; state on a %d MB tmpfs"
        % (total, sum(len(v) for _, v in records) / 2**20, topic, args.first_size_mb))

    def lag():
        try:
            return sum(group_lag(group, topic).values())
        except Exception as e:  # noqa: BLE001 (ask again)
            say("lag query failed: %s" % e)
            return None

    # Run, fill up, stop with 70, grow a little, restart on the same state...
    # After --cycles fill-ups the disk gets 512 MiB and the run must end at
    # lag 0. A run that catches up before its disk fills ends the cycles early
    # (fewer writes than planned); at least one fill-up is required.
    fills, runs, caught_up = 0, 0, False
    while not caught_up and runs < args.cycles + 2:
        runs += 1
        used, size = usage_mb(mnt)
        say("run %d: tmpfs %.1f of %.0f MB used" % (runs, used, size))
        c = Coordinator(WCOORD, group, topic, state, extra=EXTRA)
        coords.append(c)
        t = time.monotonic()
        c.wait_assigned(timeout=120)
        wait_until(lambda: c.proc.poll() is not None or lag() == 0, 300,
                   "run %d: the disk fills up or wcoord catches up" % runs, interval=1)
        rc = c.proc.poll()
        used, size = usage_mb(mnt)
        failure_line = [l for l in c.lines if "store failure" in l]
        say("run %d: %s after %.1fs, tmpfs %.1f of %.0f MB used; %s"
            % (runs, "lag 0" if rc is None else "rc=%s" % rc, time.monotonic() - t, used, size,
               failure_line[0] if failure_line else "(no store failure logged)"))
        if rc is None:
            caught_up = True
            break
        fills += 1
        check(rc == 70, "run %d: a failed store write stops wcoord with exit code 70 (rc=%s):\n%s"
              % (runs, rc, "\n".join(c.lines[-6:])))
        check(bool(failure_line), "run %d: the store failure is logged" % runs)
        grown = int(used) + args.grow_mb if fills < args.cycles else 512
        r = mount(grown, remount=True)
        check(r.returncode == 0, "tmpfs grows to %d MB: %s" % (grown, r.stderr.strip()))
    check(fills >= 1, "the tmpfs filled up at least once (lower --first-size-mb or raise --records)")
    if fills < args.cycles:
        say("note: %d fill-up(s) of the %d planned: a run caught up before its disk filled"
            % (fills, args.cycles))
    check(caught_up, "with room wcoord runs to lag 0 on the same state")
    if caught_up:
        say("lag 0 after %d fill-up(s) and %d run(s)" % (fills, runs))
        c.stop()
        # A run that caught up early left the small disk nearly full; the
        # store probe below opens the state and may write to it.
        if usage_mb(mnt)[1] < 512:
            r = mount(512, remount=True)
            check(r.returncode == 0, "tmpfs grows to 512 MB: %s" % r.stderr.strip())
        summary = check_outputs(WCOORD, group, topic, state, False,
                                event_time=1700000000000 + 3 * total)
        if summary["missing_dlq"]:
            exp = summary["expected"]
            by_outcome = {}
            for s in summary["missing_dlq"]:
                by_outcome[exp[s]["outcome"]] = by_outcome.get(exp[s]["outcome"], 0) + 1
            say("dead letters never published, by outcome: %s" % by_outcome)
finally:
    for c in coords:
        if c.proc.poll() is None:
            c.kill()
    if harness.failures:
        for i, c in enumerate(coords):
            path = os.path.join(tempfile.gettempdir(), "%s-%d.log" % (group, i + 1))
            with open(path, "w") as f:
                f.write(c.log() + "\n")
            print("wcoord log #%d (rc=%s): %s" % (i + 1, c.proc.returncode, path), flush=True)
    r = subprocess.run(["umount", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print("umount %s: %s; lazy unmount" % (mnt, r.stderr.strip()), flush=True)
        subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(mnt, ignore_errors=True)
finish()

#!/usr/bin/env python3
"""`wcoord apply --state-dir`: a second run continues the state, and kill -9
during a long run loses nothing that was acknowledged (answered) and applies
nothing twice."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

WCOORD = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def apply(state, stdin_bytes):
    p = subprocess.run([WCOORD, "apply", "--quiet", "--state-dir", state], input=stdin_bytes,
                       capture_output=True, timeout=600)
    check(p.returncode == 0, "apply exit 0: %s" % p.stderr.decode()[-500:])
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


def feed(p, data):
    try:
        p.stdin.write(data)
        p.stdin.close()
    except BrokenPipeError:
        pass  # the process was killed on purpose


def current_versions(state, ids):
    """Asks the store for each id's version through a conflict answer."""
    probe = "".join('{"id":"%s","version":999999999999,"doc":{}}\n' % i for i in ids).encode()
    out = {}
    for a in apply(state, probe):
        b = a["index"]
        m = re.search(r"current version \[(\d+)\]", b.get("error", {}).get("reason", ""))
        out[b["_id"]] = int(m.group(1)) if m else 0
    return out


def test_second_run_continues():
    d = tempfile.mkdtemp()
    try:
        a = apply(d, b'{"id":"x","doc":{"n":1}}\n{"op":"delete","id":"y"}\n')
        check(a[0]["index"]["_version"] == 1, "first run creates v1")
        b = apply(d, b'{"id":"x","doc":{"n":2}}\n{"op":"create","id":"y","doc":{}}\n')
        check(b[0]["index"]["_version"] == 2 and b[0]["index"]["result"] == "updated",
              "second run continues: %r" % b[0])
        check(b[1]["create"]["_version"] == 2, "tombstone survives the restart: %r" % b[1])
    finally:
        shutil.rmtree(d)


def test_kill_9_loses_nothing_acknowledged():
    d = tempfile.mkdtemp()
    ids = ["k%d" % i for i in range(500)]
    writes_per_id = 400
    sent = {i: 0 for i in ids}
    lines = []
    for r in range(writes_per_id):
        for i in ids:
            lines.append('{"id":"%s","doc":{"r":%d}}\n' % (i, r))
            sent[i] += 1
    data = "".join(lines).encode()
    try:
        for attempt, kill_after in enumerate((20000, 75000)):
            p = subprocess.Popen([WCOORD, "apply", "--quiet", "--state-dir", d],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            acked = {}
            threading.Thread(target=feed, args=(p, data), daemon=True).start()
            n = 0
            for line in p.stdout:
                b = json.loads(line)["index"]
                acked[b["_id"]] = b["_version"]
                n += 1
                if n == kill_after:
                    p.send_signal(signal.SIGKILL)
                    break
            p.wait()
            check(n == kill_after, "killed mid-run after %d answers" % n)
            now = current_versions(d, ids)
            lost = [i for i in ids if now[i] < acked.get(i, 0)]
            check(not lost, "attempt %d: acknowledged writes lost for %s" % (attempt, lost[:5]))
            # Each run sends writes_per_id internal writes per id: the store can
            # never count more than were sent (nothing applied twice).
            limit = writes_per_id * (attempt + 1)
            over = [i for i in ids if now[i] > limit]
            check(not over, "attempt %d: versions beyond what was sent: %s" % (attempt, over[:5]))
            # The probe itself conflicts and changes nothing.
    finally:
        shutil.rmtree(d)


for name, fn in list(globals().items()):
    if name.startswith("test_"):
        print("--", name)
        fn()
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)

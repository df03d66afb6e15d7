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


def test_nul_bytes_cannot_merge_two_documents():
    """Issue 9: index "a" with id "b\\0c" and index "a\\0b" with id "c" are two
    documents, in one run and over one state directory alike."""
    first = b'{"index":"a","id":"b\\u0000c","version_type":"external","version":10,"doc":{}}\n'
    second = b'{"index":"a\\u0000b","id":"c","op":"create","doc":{}}\n'
    p = subprocess.run([WCOORD, "apply", "--quiet"], input=first + second,
                       capture_output=True, timeout=60)
    one_run = [json.loads(l) for l in p.stdout.decode().splitlines()]
    check(one_run[1]["create"]["status"] == 201, "in memory: the second is created: %r" % one_run)
    d = tempfile.mkdtemp()
    try:
        a = apply(d, first)
        b = apply(d, second)
        check(a[0]["index"]["status"] == 201, "state dir: first created: %r" % a)
        check(b[0]["create"]["status"] == 201 and b[0]["create"]["_index"] == "a\0b",
              "state dir: the second is another document: %r" % b)
        c = apply(d, b'{"index":"a","id":"b\\u0000c","version_type":"external","version":10,'
                     b'"doc":{}}\n')
        check(c[0]["index"]["status"] == 409
              and "current version [10]" in c[0]["index"]["error"]["reason"],
              "state dir: the first kept its own state: %r" % c)
    finally:
        shutil.rmtree(d)


def test_seq_no_dense_per_index_and_continued():
    """_seq_no counts each index's applied writes from 0 in input order (one
    Elasticsearch shard per index); refused writes take none; a second run
    over the state continues, and compare-and-set uses the pairs answered."""
    d = tempfile.mkdtemp()
    try:
        lines = [{"index": "a", "id": "1", "doc": {}},
                 {"index": "b", "id": "1", "doc": {}},
                 {"index": "a", "id": "1", "op": "create", "doc": {}},        # 409
                 {"index": "a", "id": "2", "doc": []},                         # 400
                 {"index": "a", "id": "2", "op": "delete"},                    # 404, numbered
                 {"index": "a", "id": "1", "doc": {"n": 2}}]
        a = apply(d, "".join(json.dumps(l) + "\n" for l in lines).encode())
        got = [(list(x.values())[0].get("_seq_no"), list(x.values())[0].get("_primary_term"))
               for x in a]
        check(got == [(0, 1), (0, 1), (None, None), (None, None), (1, 1), (2, 1)],
              "dense per index from 0, refused writes unnumbered: %r" % got)
        cas = [{"index": "a", "id": "1", "if_seq_no": 2, "if_primary_term": 1, "doc": {"n": 3}},
               {"index": "a", "id": "1", "if_seq_no": 2, "if_primary_term": 1, "doc": {"n": 4}},
               {"index": "a", "id": "2", "if_seq_no": 1, "if_primary_term": 1, "op": "delete"},
               {"index": "b", "id": "1", "if_seq_no": 0, "if_primary_term": 1, "op": "delete"}]
        b = apply(d, "".join(json.dumps(l) + "\n" for l in cas).encode())
        bodies = [list(x.values())[0] for x in b]
        check(bodies[0].get("_seq_no") == 3 and bodies[0]["status"] == 200,
              "the second run continues and the answered pair applies: %r" % bodies[0])
        check(bodies[1]["status"] == 409 and bodies[1]["outcome"] == "conflict"
              and bodies[1]["error"]["reason"] == "[1]: version conflict, required seqNo [2], "
              "primary term [1]. current document has seqNo [3] and primary term [1]",
              "a stale pair conflicts with Elasticsearch's reason: %r" % bodies[1])
        check(bodies[2]["status"] == 409 and bodies[2]["error"]["reason"].endswith(
              "but no document was found"), "a deleted document is not found: %r" % bodies[2])
        check(bodies[3].get("_seq_no") == 1 and bodies[3]["result"] == "deleted",
              "index b numbers on its own: %r" % bodies[3])
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
    numbers = []  # every acknowledged _seq_no, all runs
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
                numbers.append(b["_seq_no"])
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
        # Numbers stored by a killed run are never handed out again: every
        # acknowledged number is unique, and the next run goes on past them.
        check(len(set(numbers)) == len(numbers), "no _seq_no acknowledged twice across kills")
        last = apply(d, b'{"id":"k0","doc":{}}\n')[0]["index"]["_seq_no"]
        check(last > max(numbers), "numbering continues past every acknowledged number "
              "(%d after %d)" % (last, max(numbers)))
    finally:
        shutil.rmtree(d)


for name, fn in list(globals().items()):
    if name.startswith("test_"):
        print("--", name)
        fn()
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""`wcoord run` without bootstrap.servers starts the embedded cluster, prints
its address, and decides what an outside producer (kcat) sends there."""
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import check, finish, wait_until

WCOORD = sys.argv[1]
state = tempfile.mkdtemp()
proc = subprocess.Popen([WCOORD, "run", "--set", "state.dir=" + state, "--set", "group.id=emb",
                         "--set", "topics=orders", "--set", "http.listen=127.0.0.1:0"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
lines = []
threading.Thread(target=lambda: [lines.append(l.decode()) for l in proc.stdout], daemon=True).start()
try:
    wait_until(lambda: any("bootstrap servers" in l for l in lines), 60, "the printed address")
    addr = re.search(r"bootstrap servers: (\S+)", "".join(lines)).group(1)
    check(addr.startswith("127.0.0.1:"), "embedded cluster on loopback: %s" % addr)
    muts = [{"id": "o-1", "version_type": "external", "version": 2, "doc": {"total": 20}},
            {"id": "o-1", "version_type": "external", "version": 1, "doc": {"total": 10}},
            {"id": "o-2", "op": "create", "doc": {}},
            {"id": "o-2", "op": "create", "doc": {}}]
    data = "".join("%s\t%s\n" % (m["id"], json.dumps(m)) for m in muts).encode()
    p = subprocess.run(["kcat", "-P", "-b", addr, "-t", "orders", "-K", "\t"], input=data,
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "kcat produced: %s" % p.stderr.decode())

    def changelog():
        out = subprocess.run(["kcat", "-C", "-b", addr, "-t", "emb.changelog", "-e", "-q"],
                             capture_output=True, timeout=60)
        return [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]

    wait_until(lambda: len(changelog()) >= 2, 60, "two applied decisions on the changelog")
    got = sorted((c["_id"], c["_version"], c["result"]) for c in changelog())
    check(got == [("o-1", 2, "created"), ("o-2", 1, "created")], "changelog %r" % got)
    out = subprocess.run(["kcat", "-C", "-b", addr, "-t", "emb.dlq", "-e", "-q"],
                         capture_output=True, timeout=60)
    dead = [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]
    check([d["outcome"] for d in dead] == ["conflict"], "one conflict dead-lettered: %r" % dead)
finally:
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(60) == 0, "embedded run exits 0 on SIGTERM")
finish()

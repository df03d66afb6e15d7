#!/usr/bin/env python3
"""The HTTP surface of `wcoord run` (issue 8, "an open door"), through the
real binary on its embedded Kafka cluster (no broker needed):

* defaults: metrics and probes answer; document reads are off (404) and
  never serve a source, though the document exists;
* an encoded NUL (%00) in any path is 400, never a truncated id;
* a slow-client flood (idle connections and byte-by-byte senders, held open
  and re-opened when the server cuts them) does not starve the probes:
  /healthz answers within 1 s every time; the server cuts the slow clients
  after http.request.timeout. The same flood against the old settings (4
  threads) does starve it, so the flood is real;
* document reads on their own listener behind a bearer token from a file:
  401 without or with a wrong token, 200 with the right one, a rotated
  token takes over without a restart, the metrics listener does not serve
  them, and a flood on the document port leaves the probes alone;
* an unusable token file stops the start without printing the token.
"""
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Producer

from harness import check, finish, wait_until

WCOORD = sys.argv[1]
MARKER = "source-marker-7f3a"  # appears in the documents' sources only
TOKEN = "t0k3n-" + "9f" * 16
ROTATED = "r0t4t3d-" + "c4" * 16


class Run:
    """A `wcoord run` on its embedded cluster, output captured."""

    def __init__(self, *settings):
        self.state = tempfile.mkdtemp(prefix="wcoord-http-")
        args = [WCOORD, "run", "--set", "state.dir=" + self.state, "--set", "group.id=http",
                "--set", "topics=orders", "--set", "http.listen=127.0.0.1:0"]
        for s in settings:
            args += ["--set", s]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={"PATH": "/usr/bin:/bin"})
        self.lines = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    def find(self, pattern, timeout=60):
        found = []

        def seen():
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    found.append(m.group(1))
                    return True
            return self.proc.poll() is not None
        wait_until(seen, timeout, pattern)
        return found[0] if found else None

    def output(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc.poll() is not None:
            return  # exited by itself; whoever saw that has said so
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        check(rc == 0, "SIGTERM exits 0 (rc=%s)" % rc)


def get(addr, path, headers=None, timeout=5):
    """(status, headers, body) of one GET; raises on network errors."""
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
    finally:
        c.close()


def timed_get(addr, path):
    """(seconds, status or the error) of one GET with a 1 s budget."""
    t = time.monotonic()
    try:
        status = get(addr, path, timeout=1.0)[0]
    except (OSError, http.client.HTTPException) as e:
        status = "%s: %s" % (type(e).__name__, e)
    return time.monotonic() - t, status


def produce(bootstrap, docs):
    p = Producer({"bootstrap.servers": bootstrap})
    for doc_id, mutation in docs:
        p.produce("orders", key=doc_id, value=json.dumps(mutation))
    check(p.flush(30) == 0, "the documents were produced")


def applied(addr):
    _, _, body = get(addr, "/metrics")
    return sum(float(m.group(1)) for m in
               re.finditer(r'^wcoord_mutations_total\{[^}]*outcome="applied"[^}]*\} (\S+)$', body, re.M))


class Flood:
    """`n` slow clients against one listener: half connect and send nothing,
    half send a request header one byte at a time, never finishing it. A
    client the server cuts is opened again at once, as an attacker would."""

    def __init__(self, addr, n=50, tick=0.3):
        host, port = addr.rsplit(":", 1)
        self.target = (host, int(port))
        self.n, self.tick = n, tick
        self.cut = 0          # connections the server closed
        self.cut_after = []   # how long each lived
        self.stopping = False
        self.socks = [self._open(i) for i in range(n)]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self, i):
        s = socket.create_connection(self.target, timeout=5)
        s.setblocking(False)
        if i % 2:
            s.send(b"GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Slow: ")
        return [s, i % 2 == 1, time.monotonic()]

    def _run(self):
        while not self.stopping:
            for i, entry in enumerate(self.socks):
                s, trickle, opened = entry
                closed = False
                try:
                    if select.select([s], [], [], 0)[0]:
                        closed = True  # the server answered (408) or closed
                    elif trickle:
                        s.send(b"a")
                except OSError:
                    closed = True
                if closed:
                    self.cut += 1
                    self.cut_after.append(time.monotonic() - opened)
                    s.close()
                    try:
                        self.socks[i] = self._open(i)
                    except OSError:
                        pass
            time.sleep(self.tick)

    def stop(self):
        self.stopping = True
        self.thread.join()
        for s, _, _ in self.socks:
            s.close()


def probe_during(addr, seconds, path="/healthz", interval=0.25):
    """Every probe of /healthz during `seconds`: [(seconds, status)]."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(timed_get(addr, path))
        time.sleep(interval)
    return out


def slow(samples):
    return [(round(t, 2), s) for t, s in samples if s != 200 or t >= 1.0]


# ------------------------------------------------------------------ defaults
run = Run()
try:
    addr = run.find(r"http listening on (\S+)")
    bootstrap = run.find(r"bootstrap servers: (\S+)")
    check(addr and bootstrap, "listener and embedded cluster up:\n" + run.output()[-2000:])
    if not (addr and bootstrap):
        finish()
    check(any("document reads are off" in l for l in run.lines), "the log says document reads are off")
    produce(bootstrap, [("o-1", {"id": "o-1", "version_type": "external", "version": 3,
                                 "doc": {"note": MARKER}})])
    wait_until(lambda: applied(addr) >= 1, 60, "the document decided")
    time.sleep(1)  # past the store write that follows the changelog
    for path in ("/v1/docs/orders/o-1", "/v1/docs/orders/o-2", "/v1/docs/orders/o-1?pretty"):
        status, _, body = get(addr, path)
        check(status == 404 and MARKER not in body and "http.docs.enabled" in body,
              "document reads are off by default: GET %s -> %s %s" % (path, status, body))
    for path in ("/healthz", "/readyz", "/metrics"):
        status = get(addr, path)[0]
        check(status in (200, 503) if path == "/readyz" else status == 200, "%s -> %s" % (path, status))

    # %00 never truncates anything, on any path.
    for path in ("/v1/docs/orders/o-1%00junk", "/v1/docs/orders%00/o-1", "/healthz%00",
                 "/metrics%00.txt", "/nothing%00"):
        status, _, body = get(addr, path)
        check(status == 400 and MARKER not in body, "GET %s -> 400 (got %s %s)" % (path, status, body))

    # A slow-client flood: the probes keep answering within 1 s, every time.
    flood = Flood(addr, n=50)
    try:
        samples = probe_during(addr, 15)
    finally:
        flood.stop()
    bad = slow(samples)
    check(not bad, "under 50 slow clients /healthz answered %d of %d probes within 1 s; "
                   "slow or failed: %s" % (len(samples) - len(bad), len(samples), bad[:10]))
    print("flood: %d probes, slowest %.3f s; %d slow clients cut by the server (after %.1f-%.1f s)"
          % (len(samples), max(t for t, _ in samples), flood.cut,
             min(flood.cut_after or [0]), max(flood.cut_after or [0])), flush=True)
    check(flood.cut >= 25, "the server cuts slow clients after http.request.timeout (5 s): %d cut"
                           % flood.cut)
    check(all(t < 12 for t in flood.cut_after),
          "no slow client held a connection past 12 s: %s" % sorted(flood.cut_after)[-5:])
    check(get(addr, "/healthz")[0] == 200, "/healthz 200 after the flood")
finally:
    run.stop()

# ------------------------------------------------------------------ the old settings starve
old = Run("http.threads=4", "http.request.timeout=10s")
try:
    addr = old.find(r"http listening on (\S+)")
    if addr:
        check(timed_get(addr, "/healthz")[1] == 200, "old settings: /healthz 200 without a flood")
        flood = Flood(addr, n=50)
        try:
            samples = probe_during(addr, 5)
        finally:
            flood.stop()
        check(slow(samples), "with 4 threads the flood starves /healthz (so the flood is real): %s"
                             % samples[:5])
        print("old settings (4 threads, 10 s): %d of %d probes slow or failed"
              % (len(slow(samples)), len(samples)), flush=True)
finally:
    old.stop()

# ------------------------------------------------------------------ document reads behind a token
tokdir = tempfile.mkdtemp(prefix="wcoord-token-")
token_file = os.path.join(tokdir, "token")
with open(token_file, "w") as f:
    f.write(TOKEN + "\n")
run = Run("http.docs.enabled=true", "http.docs.listen=127.0.0.1:0",
          "http.docs.token.file=" + token_file)
try:
    addr = run.find(r"http listening on (\S+)")
    docs = run.find(r"document reads listening on (\S+)")
    bootstrap = run.find(r"bootstrap servers: (\S+)")
    check(addr and docs and bootstrap and docs != addr,
          "metrics and document listeners apart:\n" + run.output()[-2000:])
    if not (addr and docs and bootstrap):
        finish()
    check(TOKEN not in run.output(), "the token is never logged")
    produce(bootstrap, [("o-1", {"id": "o-1", "version_type": "external", "version": 3,
                                 "doc": {"note": MARKER}}),
                        ("a/b", {"id": "a/b", "doc": {"note": MARKER}})])
    auth = {"Authorization": "Bearer " + TOKEN}

    def found():
        return get(docs, "/v1/docs/orders/o-1", auth)[0] == 200
    wait_until(found, 60, "the document readable with the token")
    status, _, body = get(docs, "/v1/docs/orders/o-1", auth)
    doc = json.loads(body)
    check(status == 200 and doc["found"] and doc["_version"] == 3 and doc["_source"]["note"] == MARKER,
          "GET with the token -> 200 and the document: %s %s" % (status, body))
    # The pair a compare-and-set write sends back: its record's offset, the
    # first of its partition in a fresh topic (issue 9).
    check(doc.get("_seq_no") == 0 and doc.get("_primary_term") == 1,
          "GET returns _seq_no and _primary_term: %s" % body)
    status, _, body = get(docs, "/v1/docs/orders/a%2Fb", {"authorization": "bearer " + TOKEN})
    check(status == 200 and json.loads(body)["_id"] == "a/b", "an id with / (as %%2F): %s %s" % (status, body))
    status, _, body = get(docs, "/v1/docs/orders/missing", auth)
    check(status == 404 and json.loads(body)["found"] is False, "a missing document -> 404 found:false")

    for what, headers in (("no token", {}), ("a wrong token", {"Authorization": "Bearer wrong"}),
                          ("a wrong token of the same length",
                           {"Authorization": "Bearer " + TOKEN[:-1] + "x"}),
                          ("the token with a suffix", {"Authorization": "Bearer " + TOKEN + "x"}),
                          ("another scheme", {"Authorization": "Basic " + TOKEN}),
                          ("the token without a scheme", {"Authorization": TOKEN})):
        status, hdrs, body = get(docs, "/v1/docs/orders/o-1", headers)
        check(status == 401 and MARKER not in body and "Bearer" in hdrs.get("WWW-Authenticate", ""),
              "GET with %s -> 401 with WWW-Authenticate: %s %s %s" % (what, status, hdrs, body))
    status, _, body = get(docs, "/v1/docs/orders/o-1%00x", auth)
    check(status == 400, "%%00 on the document listener -> 400: %s %s" % (status, body))
    status, _, body = get(docs, "/v1/docs/orders/%zz", auth)
    check(status == 400, "malformed percent-encoding -> 400: %s %s" % (status, body))

    # The metrics listener does not serve documents; the document listener serves nothing else.
    status, _, body = get(addr, "/v1/docs/orders/o-1", auth)
    check(status == 404 and MARKER not in body, "documents are not on the metrics listener: %s %s"
                                                % (status, body))
    check(get(docs, "/metrics", auth)[0] == 404, "the document listener serves no metrics")
    check(get(docs, "/healthz")[0] == 404, "the document listener serves no probes")

    # A rotated token (a Secret update) takes over without a restart.
    tmp = token_file + ".new"
    with open(tmp, "w") as f:
        f.write(ROTATED)
    os.replace(tmp, token_file)
    wait_until(lambda: get(docs, "/v1/docs/orders/o-1", {"Authorization": "Bearer " + ROTATED})[0] == 200,
               10, "the rotated token accepted")
    check(get(docs, "/v1/docs/orders/o-1", auth)[0] == 401, "the old token refused after rotation")
    check(ROTATED not in run.output() and TOKEN not in run.output(), "no token in the logs")

    # A flood on the document port leaves the probes (their own threads) alone.
    flood = Flood(docs, n=80)
    try:
        samples = probe_during(addr, 5)
    finally:
        flood.stop()
    bad = slow(samples)
    check(not bad, "a flood on the document port: /healthz slow or failed: %s" % bad[:10])
    print("document reads: 401/200 by token, rotation, %%00 and a flood on their port (%d probes, "
          "slowest %.3f s) as expected" % (len(samples), max(t for t, _ in samples)), flush=True)
finally:
    run.stop()

# ------------------------------------------------------------------ unusable token files
for content, why in (("tiny-secret\n", "at least 16 characters"), (None, "cannot read")):
    path = os.path.join(tokdir, "bad-token")
    if content is None:
        path = os.path.join(tokdir, "no-such-file")
    else:
        with open(path, "w") as f:
            f.write(content)
    p = subprocess.run([WCOORD, "run", "--set", "state.dir=" + tempfile.mkdtemp(), "--set", "topics=orders",
                        "--set", "http.listen=127.0.0.1:0", "--set", "http.docs.enabled=true",
                        "--set", "http.docs.token.file=" + path],
                       capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    out = (p.stdout + p.stderr).decode(errors="replace")
    check(p.returncode != 0 and why in out and "tiny-secret" not in out,
          "a bad token file (%s) stops the start without printing it: rc=%s %s"
          % (why, p.returncode, out[-600:]))
finish()

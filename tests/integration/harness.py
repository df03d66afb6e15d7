"""Shared helpers for the integration tests: a real Kafka broker (started by
the test run through scripts/kafka), the real wcoord binary, and the
sequential replay (`wcoord apply`) that predicts every decision."""
import json
import os
import random
import re
import signal
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOOTSTRAP = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def finish():
    print("%d failure(s)" % len(failures), flush=True)
    sys.exit(1 if failures else 0)


def wait_until(pred, timeout, what, interval=0.1):
    """Polls a condition the system makes true asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    check(False, "timed out waiting for " + what)
    return False


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
        f.result(30)


def read_topic(topic, timeout=30):
    """Every record of a topic, per partition in offset order."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": unique("reader"),
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10).topics[topic]
    parts = sorted(md.partitions)
    ends = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = hi
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out = {p: [] for p in parts}
    remaining = {p for p in parts if ends[p] > 0}
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            # Transactional topics end in control markers that are never
            # delivered: the end-of-partition event is the reliable end.
            if m.error().code() == KafkaError._PARTITION_EOF:
                remaining.discard(m.partition())
            continue
        out[m.partition()].append(m)
        if m.offset() + 1 >= ends[m.partition()]:
            remaining.discard(m.partition())
    c.close()
    check(not remaining, "read all of %s" % topic)
    return out


def group_lag(group, topic):
    # read_uncommitted: a read_committed client asks for *stable* offsets and
    # waits while a transaction with offsets for the group is open (exactly
    # once, or one a killed coordinator left behind).
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_uncommitted"})
    md = c.list_topics(topic, timeout=10).topics[topic]
    tps = [TopicPartition(topic, p) for p in sorted(md.partitions)]
    for attempt in range(20):
        try:
            committed = c.committed(tps, timeout=10)
            break
        except KafkaException as e:
            # A broker that just started is still loading its group
            # coordinators (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
            if attempt == 19 or not e.args[0].retriable():
                raise
            time.sleep(0.5)
    lag = {}
    for tp in committed:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
        lag[tp.partition] = hi - (tp.offset if tp.offset >= 0 else lo)
    c.close()
    return lag


def produce(topic, records, headers_for=None):
    """records: list of (key, value-bytes)."""
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i, (k, v) in enumerate(records):
        h = headers_for(i) if headers_for else None
        while True:
            try:
                p.produce(topic, key=k, value=v, headers=h,
                          on_delivery=lambda err, msg: err and errors.append(err))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    p.flush(60)
    check(not errors, "python producer delivered everything (%s)" % errors[:3])


class Coordinator:
    """A `wcoord run` process with its stderr captured."""

    def __init__(self, wcoord, group, topics, state_dir, extra=()):
        self.args = [wcoord, "run", "--set", "bootstrap.servers=" + BOOTSTRAP,
                     "--set", "group.id=" + group, "--set", "topics=" + topics,
                     "--set", "state.dir=" + state_dir, "--set", "commit.interval.ms=200",
                     "--set", "http.listen=127.0.0.1:0",
                     # A killed member must leave the group quickly in tests.
                     "--set", "kafka.session.timeout.ms=6000", *extra]
        self.lines = []
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    def saw(self, pattern):
        return any(re.search(pattern, l) for l in self.lines)

    def wait_assigned(self, timeout=60):
        ok = wait_until(lambda: self.saw(r"assigned \d+ partition") or self.proc.poll() is not None,
                        timeout, "partition assignment")
        if self.proc.poll() is not None:
            check(False, "wcoord run exited early (rc=%s):\n%s" % (self.proc.returncode, self.log()[-2000:]))
            finish()
        return ok

    def stop(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        check(rc == 0, "SIGTERM exits 0 within %ss (rc=%s)\n%s" % (timeout, rc, "\n".join(self.lines[-20:])))
        return rc

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def log(self):
        return "\n".join(self.lines)


def predict(wcoord, partitions, default_index):
    """Decides the consumed records as wcoord must have: each partition in
    offset order through `wcoord apply` (ids never span partitions, so the
    concatenation is a valid sequential replay). Returns
    {(partition, offset): answer-body} plus the final version per doc."""
    lines, where = [], []
    for p in sorted(partitions):
        for m in partitions[p]:
            v = m.value() or b""
            key = m.key()
            # A key that differs from the id is invalid in the service; apply
            # has no keys, so make the line invalid the same way.
            try:
                obj = json.loads(v)
                if isinstance(obj, dict) and key is not None and obj.get("id") is not None \
                        and key.decode() != obj.get("id"):
                    v = b"key/id mismatch"
            except ValueError:
                pass
            lines.append(v.replace(b"\n", b" "))
            where.append((p, m.offset()))
    out = subprocess.run([wcoord, "apply", "--quiet", "--default-index", default_index],
                         input=b"\n".join(lines) + b"\n", capture_output=True, timeout=600)
    answers = [json.loads(l) for l in out.stdout.decode().splitlines()]
    check(len(answers) == len(where), "prediction answered every record")
    result, final = {}, {}
    for w, a in zip(where, answers):
        (action, body), = a.items()
        body["_action"] = action
        result[w] = body
        if body["outcome"] == "applied":
            final[(body["_index"], body["_id"])] = body["_version"]
    return result, final


def probe_store(wcoord, state_dir, mutations):
    """Answers of `wcoord apply` over a stopped coordinator's store to
    mutations that conflict (so they change nothing): what they say of the
    current documents."""
    probe = "".join(json.dumps(m) + "\n" for m in mutations).encode()
    out = subprocess.run([wcoord, "apply", "--quiet", "--state-dir", state_dir], input=probe,
                         capture_output=True, timeout=600)
    check(out.returncode == 0, "store probe ran: %s" % out.stderr.decode()[-300:])
    return [json.loads(line)["index"] for line in out.stdout.decode().splitlines()]


def store_versions(wcoord, state_dir, docs, event_time=1700000000000):
    """Current version per (index, id) from a stopped coordinator's store,
    asked through a conflicting probe (which changes nothing). The probe's
    event time sits near the fixture's, so tombstones still count."""
    versions = {}
    for b in probe_store(wcoord, state_dir, [{"index": i, "id": d, "version": 999999999999,
                                              "doc": {}, "timestamp": event_time}
                                             for i, d in docs]):
        m = re.search(r"current version \[(\d+)\]", b.get("error", {}).get("reason", ""))
        versions[(b["_index"], b["_id"])] = int(m.group(1)) if m else None
    return versions


def store_pairs(wcoord, state_dir, docs):
    """The (_seq_no, _primary_term) of each live (index, id) in a stopped
    coordinator's store, asked through a compare-and-set probe that cannot
    match (so it changes nothing); None for a document not live."""
    pairs = {}
    for b in probe_store(wcoord, state_dir, [{"index": i, "id": d, "if_seq_no": 2 ** 62,
                                              "if_primary_term": 1, "doc": {}}
                                             for i, d in docs]):
        m = re.search(r"current document has seqNo \[(\d+)\] and primary term \[(\d+)\]",
                      b.get("error", {}).get("reason", ""))
        pairs[(b["_index"], b["_id"])] = (int(m.group(1)), int(m.group(2))) if m else None
    return pairs


def expected_pairs(expected):
    """What `wcoord run` numbers, from the replay's answers for one topic:
    every applied write gets its source offset and primary term 1. Returns
    the pair of each document's last write (None once deleted)."""
    last = {}
    for (p, o), body in sorted(expected.items()):
        if body.get("outcome") != "applied":
            continue
        doc = (body["_index"], body["_id"])
        last[doc] = (o, 1) if body["result"] in ("created", "updated") else None
    return last


def headers_of(m):
    return {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}


def racing_fixture(ids, per_id, seed, malformed_every=97):
    """Mutations from several writers racing on the same ids: external
    versions out of order, internal-version races, creates on existing docs,
    deletes, malformed records. Returns [(key, value)] in a shuffled order
    that keeps nothing in particular: the partitions decide the real order."""
    rng = random.Random(seed)
    recs = []
    ts = 1700000000000
    for n in range(ids * per_id):
        i = rng.randrange(ids)
        doc_id = "doc-%d" % i
        ts += rng.randrange(5)
        kind = rng.random()
        if kind < 0.45:
            m = {"op": "index", "id": doc_id, "version_type": rng.choice(["external", "external_gte"]),
                 "version": rng.randrange(1, 40), "doc": {"n": n, "w": "sync"}}
        elif kind < 0.70:
            m = {"op": "index", "id": doc_id, "version": rng.randrange(1, 6), "doc": {"n": n, "w": "svc"}}
        elif kind < 0.80:
            m = {"op": "create", "id": doc_id, "doc": {"n": n}}
        elif kind < 0.90:
            m = {"op": "delete", "id": doc_id}
        else:
            m = {"op": "index", "id": doc_id, "doc": {"n": n, "text": "ü€ \"q\""}}
        m["timestamp"] = ts
        if rng.random() < 0.3:
            m["index"] = "other"
        value = json.dumps(m).encode()
        if n % malformed_every == 5:
            value = value[: len(value) // 2]  # truncated
        recs.append((doc_id.encode(), value))
    return recs


# ------------------------------------------------------------------------
# Helpers for the fault tests (broker_outage.py, disk_full.py): a broker of
# their own, the HTTP listener of a Coordinator, and the output checks both
# make against the sequential replay.

def use_bootstrap(address):
    """Points every helper of this module, and Coordinators created from now
    on, at another broker (a test that stops its own broker)."""
    global BOOTSTRAP
    BOOTSTRAP = address


def kafka_script(port, *args, timeout=300):
    """Runs scripts/kafka for the broker on `port`; returns the CompletedProcess
    (stdout/stderr as text)."""
    return subprocess.run([os.path.join(ROOT, "scripts", "kafka"), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "KAFKA_PORT": str(port)})


def http_base(coordinator, timeout=60):
    """http://HOST:PORT of a Coordinator's listener (it binds port 0), from
    its log line "http listening on HOST:PORT"."""
    pattern = re.compile(r"http listening on (\S+)")
    found = []

    def seen():
        for line in coordinator.lines:
            m = pattern.search(line)
            if m:
                found.append(m.group(1))
                return True
        return coordinator.proc.poll() is not None

    wait_until(seen, timeout, "the http listening line")
    return "http://" + found[0] if found else None


def http_fetch(url, timeout=5):
    """(status, body-text) of a GET; (None, reason) when nothing answers."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError) as e:  # refused, reset, timed out
        return None, str(e)


def metric_samples(text, name):
    """[(labels, value)] of one sample name in a Prometheus text exposition."""
    out = []
    for line in (text or "").splitlines():
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m or line.startswith("#") or m.group(1) != name:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        try:
            out.append((labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def check_outputs(wcoord, group, topic, state_dir, exactly_once, event_time):
    """The checks every fault test ends with, once the coordinator has
    stopped at lag 0. Against the sequential replay of the input:
    * the changelog holds every applied decision and nothing else;
    * the dead-letter topic holds every conflict and invalid decision (with
      the replay's status, and a conflict with its error) and nothing else;
    * at least once: a record published twice is byte-identical both times;
      exactly once (read_committed, which read_topic uses): nothing twice;
    * the store equals the replay.
    Returns a summary dict (counts, missing sources) for the test's report."""
    inputs = read_topic(topic, timeout=120)
    expected, final = predict(wcoord, inputs, topic)

    def sources(msgs, pkey, okey):
        firsts, dupes, differing = {}, 0, []
        for m in msgs:
            h = headers_of(m)
            try:
                src = (int(h[pkey]), int(h[okey]))
            except (KeyError, TypeError, ValueError):
                check(False, "output record without source headers: %r" % (h,))
                continue
            if src in firsts:
                dupes += 1
                if firsts[src].value() != m.value():
                    differing.append(src)
            else:
                firsts[src] = m
        return firsts, dupes, differing

    changelog = [m for msgs in read_topic(group + ".changelog", timeout=120).values() for m in msgs]
    cl, cl_dupes, cl_diff = sources(changelog, "wcoord.source.partition", "wcoord.source.offset")
    wrong = []
    for src, m in cl.items():
        v, exp = json.loads(m.value()), expected.get(src, {})
        if not (exp.get("outcome") == "applied" and exp.get("_version") == v.get("_version")
                and exp.get("result") == v.get("result") and exp.get("_id") == v.get("_id")
                and exp.get("_index") == v.get("_index")):
            wrong.append((src, v.get("_id"), v.get("_version"), v.get("result"), exp))
    check(not wrong, "every changelog record is a decision the replay makes (%d are not, e.g. %s)"
          % (len(wrong), wrong[:3]))
    applied = {w for w, b in expected.items() if b["outcome"] == "applied"}
    missing_cl = sorted(applied - set(cl))
    check(not missing_cl, "every applied decision is on the changelog (%d of %d missing, e.g. %s)"
          % (len(missing_cl), len(applied), missing_cl[:5]))

    dlq = [m for msgs in read_topic(group + ".dlq", timeout=120).values() for m in msgs]
    dl, dl_dupes, dl_diff = sources(dlq, "__connect.errors.partition", "__connect.errors.offset")
    wrong = []
    for src, m in dl.items():
        v, exp = json.loads(m.value()), expected.get(src, {})
        # A conflict's reason names the current version: it must match. An
        # invalid record's error may differ (predict() rewrites key/id
        # mismatches into another malformed line): outcome and status only.
        deep = exp.get("outcome") == "conflict"
        got = (v.get("outcome"), v.get("status"), deep and (v.get("error") or {}).get("type"),
               deep and (v.get("error") or {}).get("reason"))
        want = (exp.get("outcome"), exp.get("status"), deep and (exp.get("error") or {}).get("type"),
                deep and (exp.get("error") or {}).get("reason"))
        if got != want:
            wrong.append((src, got, want))
    check(not wrong, "every dead letter is a decision the replay makes (%d are not, e.g. %s)"
          % (len(wrong), wrong[:3]))
    refused = {w for w, b in expected.items() if b["outcome"] in ("conflict", "invalid")}
    missing_dl = sorted(refused - set(dl))
    check(not missing_dl, "every conflict and invalid decision is on the dead-letter topic "
          "(%d of %d missing, e.g. %s)" % (len(missing_dl), len(refused), [
              (s, expected[s]["outcome"], expected[s].get("_id")) for s in missing_dl[:5]]))

    if exactly_once:
        check(cl_dupes == 0, "exactly once: no changelog record twice (%d)" % cl_dupes)
        check(dl_dupes == 0, "exactly once: no dead letter twice (%d)" % dl_dupes)
    check(not cl_diff, "a changelog record published again is identical (%d differ, e.g. %s)"
          % (len(cl_diff), cl_diff[:3]))
    check(not dl_diff, "a dead letter published again is identical (%d differ, e.g. %s)"
          % (len(dl_diff), dl_diff[:3]))

    docs = sorted({(b["_index"], b["_id"]) for b in expected.values() if b.get("_id")})
    now = store_versions(wcoord, state_dir, docs, event_time=event_time)
    differ = [d for d in docs if now.get(d) != final.get(d)]
    check(not differ, "store equals the sequential replay (%d of %d differ, e.g. %s)"
          % (len(differ), len(docs), [(d, now.get(d), final.get(d)) for d in differ[:3]]))
    summary = {"inputs": sum(len(v) for v in inputs.values()), "applied": len(applied),
               "refused": len(refused), "changelog": len(changelog), "changelog_dupes": cl_dupes,
               "dlq": len(dlq), "dlq_dupes": dl_dupes, "missing_changelog": missing_cl,
               "missing_dlq": missing_dl, "expected": expected}
    print("outputs: %(inputs)d inputs; changelog %(changelog)d records (%(changelog_dupes)d again) "
          "for %(applied)d applied; dead letters %(dlq)d (%(dlq_dupes)d again) for %(refused)d "
          "conflict/invalid" % summary, flush=True)
    return summary


def parse_assignment(data):
    """{topic: [partitions]} from a ConsumerProtocol Assignment (any version:
    the topic list comes first, user data after it)."""
    out = {}
    if not data or len(data) < 6:
        return out
    pos = 2  # int16 version
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    for _ in range(max(n, 0)):
        (slen,) = struct.unpack_from(">h", data, pos)
        pos += 2
        topic = data[pos:pos + slen].decode()
        pos += slen
        (cnt,) = struct.unpack_from(">i", data, pos)
        pos += 4
        out[topic] = list(struct.unpack_from(">%di" % cnt, data, pos))
        pos += 4 * cnt
    return out

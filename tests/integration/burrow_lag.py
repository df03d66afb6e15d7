#!/usr/bin/env python3
"""LinkedIn Burrow (the Debian package) watches wcoord's consumer group on the
test broker: while wcoord consumes a steady stream its group is OK over a full
evaluation window; once wcoord stops (SIGTERM) and the stream goes on, Burrow
flags the group and every partition; and with the stream stopped, Burrow's
per-partition lag equals Kafka's (high watermark minus committed offset).

Burrow 1.2.1 reads committed offsets from __consumer_offsets and watermarks
from the brokers, so it needs no ZooKeeper for a KRaft cluster, but its own
coordinator insists on one ("No Zookeeper servers specified" otherwise): the
test runs a throwaway standalone ZooKeeper from the broker's own classpath
(Kafka 3.9 still ships zookeeper-3.8) for Burrow alone."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from harness import (BOOTSTRAP, ROOT, Coordinator, check, create_topic, failures, finish, group_lag,
                     unique, wait_until)

WCOORD = sys.argv[1]
BURROW = shutil.which("Burrow") or shutil.which("burrow") or "/usr/bin/Burrow"
CLUSTER = "local"
INTERVALS = 6  # offsets per partition in Burrow's window (and broker offsets kept)
BAD = ("WARN", "ERR", "STOP", "STALL", "REWIND")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zk_serving(port):
    """ZooKeeper's `srvr`: neither a bound port nor `ruok` means it serves
    sessions yet (Burrow gives up on its first failed session)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            reply = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return b"Mode: standalone" in reply
    except OSError:
        return False


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def stop_group(proc, timeout=20):
    """Stops a process group this test started in its own session (for
    ZooKeeper: scripts/kafka's shell and the JVM it runs), and waits until
    every member is gone."""
    if proc is None:
        return

    def signal_group(sig):
        try:
            os.killpg(proc.pid, sig)
            return True
        except ProcessLookupError:
            return False
    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        if not signal_group(0):
            return
        time.sleep(0.1)
    signal_group(signal.SIGKILL)
    proc.wait()


class Stream:
    """Valid mutations at a modest steady rate over all partitions, so the
    coordinator keeps committing (it commits only when offsets move)."""

    def __init__(self, topic, per_second=40):
        self.topic, self.period, self.sent = topic, 1.0 / per_second, 0
        self.errors, self.halt = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5})
        while not self.halt.is_set():
            doc_id = "live-%d" % (self.sent % 60)
            p.produce(self.topic, key=doc_id.encode(),
                      value=json.dumps({"id": doc_id, "doc": {"n": self.sent}}).encode(),
                      on_delivery=lambda err, msg: err and self.errors.append(err))
            self.sent += 1
            p.poll(0)
            self.halt.wait(self.period)
        p.flush(30)

    def stop(self):
        self.halt.set()
        self.thread.join(60)
        check(not self.errors, "the stream was delivered (%s)" % self.errors[:3])


topic, group = unique("burrow"), unique("burrowlag")
create_topic(topic, 3)
tmp = tempfile.mkdtemp()
state = os.path.join(tmp, "state")
zk = burrow = stream = coord = None
t0 = time.monotonic()
try:
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "burrow"], capture_output=True, text=True)
    print("Burrow %s (%s)" % (version.stdout or "?", BURROW))
    if not check(os.access(BURROW, os.X_OK), "Burrow is installed (Debian package burrow)"):
        finish()

    coord = Coordinator(WCOORD, group, topic, state)
    coord.wait_assigned()
    stream = Stream(topic)

    # Burrow's own ZooKeeper (nothing of Kafka's lives there).
    zk_port, http_port = free_port(), free_port()
    os.makedirs(os.path.join(tmp, "zk"))
    with open(os.path.join(tmp, "zoo.cfg"), "w") as f:
        f.write("dataDir=%s/zk\nclientPort=%d\nclientPortAddress=127.0.0.1\ntickTime=500\n"
                "admin.enableServer=false\n4lw.commands.whitelist=srvr\n" % (tmp, zk_port))
    zk = subprocess.Popen([ROOT + "/scripts/kafka", "tools", "org.apache.zookeeper.server.ZooKeeperServerMain",
                           os.path.join(tmp, "zoo.cfg")],
                          stdout=open(os.path.join(tmp, "zk.out"), "w"), stderr=subprocess.STDOUT,
                          env={**os.environ, "KAFKA_TOOLS_OPTS": "-Xmx128m -XX:+UseSerialGC "
                               "-XX:TieredStopAtLevel=1 -Dzookeeper.admin.enableServer=false"},
                          start_new_session=True)
    wait_until(lambda: zk_serving(zk_port) or zk.poll() is not None, 60, "ZooKeeper for Burrow")
    if not check(zk.poll() is None, "ZooKeeper for Burrow runs (rc=%s)" % zk.poll()):
        finish()

    # Burrow refuses to start before __consumer_offsets exists; the
    # coordinator's group created it.
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    wait_until(lambda: "__consumer_offsets" in admin.list_topics(timeout=10).topics, 30, "__consumer_offsets")

    with open(os.path.join(tmp, "burrow.toml"), "w") as f:
        f.write(f"""
[general]
pidfile="{tmp}/burrow.pid"

[logging]
level="info"

[zookeeper]
servers=["127.0.0.1:{zk_port}"]
timeout=6
root-path="/burrow"

[client-profile.test]
client-id="burrow-lag-test"
kafka-version="2.0.0"

[cluster.{CLUSTER}]
class-name="kafka"
servers=["{BOOTSTRAP}"]
client-profile="test"
topic-refresh=1
offset-refresh=1

[consumer.{CLUSTER}]
class-name="kafka"
cluster="{CLUSTER}"
servers=["{BOOTSTRAP}"]
client-profile="test"
start-latest=true
group-whitelist="^{group}$"

[storage.default]
class-name="inmemory"
workers=4
intervals={INTERVALS}
min-distance=1
expire-group=600

[evaluator.default]
class-name="caching"
expire-cache=1

[httpserver.default]
address="127.0.0.1:{http_port}"
""")
    burrow = subprocess.Popen([BURROW, "-config-dir", tmp], cwd=tmp, stdout=open(os.path.join(tmp, "burrow.out"), "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    api = "http://127.0.0.1:%d/v3/kafka/%s/consumer/%s" % (http_port, CLUSTER, group)

    def status():
        if burrow.poll() is not None:
            return {}
        return (get_json(api + "/status") or {}).get("status") or {}

    def partitions():
        """Every partition's evaluation (/lag shows the OK ones too)."""
        return {p["partition"]: p for p in ((get_json(api + "/lag") or {}).get("status") or {}).get("partitions") or []
                if p and p.get("topic") == topic}

    seen = {}

    def evaluation():
        seen["status"], seen["partitions"] = status(), partitions()
        return seen["status"], seen["partitions"]

    def summary():
        s, parts = seen.get("status") or {}, seen.get("partitions") or {}
        return json.dumps({"status": s.get("status"), "complete": s.get("complete"), "totallag": s.get("totallag"),
                           "partitions": {n: [p["status"], p["start"]["offset"], p["end"]["offset"],
                                              p["current_lag"]] for n, p in sorted(parts.items())}})

    # ---- running: OK over a complete window of advancing commits
    def healthy():
        s, parts = evaluation()
        return (s.get("status") == "OK" and s.get("complete") == 1 and len(parts) == 3
                and all(p["status"] == "OK" and p["complete"] == 1
                        and p["end"]["offset"] > p["start"]["offset"] for p in parts.values()))
    ok = wait_until(lambda: healthy() or burrow.poll() is not None, 120, "Burrow: group OK over a full window")
    if not check(ok and burrow.poll() is None, "Burrow reports %s OK with 3 complete, advancing partitions: %s"
                 % (group, summary())):
        finish()
    print("running, after %.0fs: %s" % (time.monotonic() - t0, summary()))

    # ---- stopped while the stream goes on: Burrow flags the group
    coord.stop()
    stopped_at = time.monotonic()

    def flagged():
        s, parts = evaluation()
        return (s.get("status") in BAD and len(parts) == 3
                and all(p["status"] in BAD and p["current_lag"] > 0 for p in parts.values()))
    ok = wait_until(flagged, 90, "Burrow: group and every partition flagged after the coordinator stopped")
    check(ok, "Burrow flags %s and its partitions: %s" % (group, summary()))
    print("stopped, after %.0fs more: %s" % (time.monotonic() - stopped_at, summary()))

    # ---- stream stopped: Burrow's lag is Kafka's lag, partition by partition
    stream.stop()
    kafka = group_lag(group, topic)
    check(all(v > 0 for v in kafka.values()), "records arrived on every partition after the stop: %r" % kafka)

    def burrow_lag():
        return {n: p["current_lag"] for n, p in partitions().items()}
    wait_until(lambda: burrow_lag() == kafka, 30, "Burrow's lag %r = Kafka's %r" % (burrow_lag(), kafka))
    check(burrow_lag() == kafka and status().get("totallag") == sum(kafka.values()),
          "Burrow lag %r (total %s) = Kafka %r" % (burrow_lag(), status().get("totallag"), kafka))
    print("lag per partition: Burrow %r, Kafka %r; %d records streamed; %.0fs in all"
          % (burrow_lag(), kafka, stream.sent, time.monotonic() - t0))
finally:
    if stream is not None:
        stream.halt.set()
    if coord is not None and coord.proc.poll() is None:
        coord.kill()
    stop_group(burrow)
    stop_group(zk)
    if failures:
        for name in ("zk.out", "burrow.out"):
            try:
                print("---- %s (last lines) ----\n%s" % (name, "".join(open(os.path.join(tmp, name)).readlines()[-40:])))
            except OSError:
                pass
    shutil.rmtree(tmp, ignore_errors=True)
finish()

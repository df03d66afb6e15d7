"""The local broker (scripts/kafka) and what the driver asks it."""
import os
import subprocess
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class Broker:
    def __init__(self, root, port):
        self.root = root
        self.port = str(port)
        self.bootstrap = "127.0.0.1:%s" % port
        self.started_here = False
        self.topics = []

    def _script(self, *args):
        env = dict(os.environ, KAFKA_PORT=self.port)
        return subprocess.run([os.path.join(self.root, "scripts", "kafka"), *args], env=env,
                              capture_output=True, text=True)

    def start(self):
        if self._script("status").returncode != 0:
            out = self._script("start")
            if out.returncode != 0:
                raise RuntimeError("scripts/kafka start failed:\n" + out.stderr[-2000:])
            self.started_here = True

    def _admin(self):
        # A client per call, as tests/integration/harness.py does: Debian's
        # confluent-kafka 1.7 on librdkafka 2.0 crashed in a long-lived admin
        # client's result callback (rd_kafka_topic_result_error_string).
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def stop(self):
        """Removes what the run created; stops the broker if the run started it."""
        if self.started_here:
            self._script("stop", "--wipe")
        elif self.topics:
            admin = self._admin()  # alive until the futures are done
            # Each name once: confluent-kafka 1.7 crashes on a repeated one.
            for f in admin.delete_topics(sorted(set(self.topics))).values():
                try:
                    f.result(60)
                except Exception:  # noqa: BLE001 (already gone is fine)
                    pass

    def pid(self):
        home = os.environ.get("WCOORD_KAFKA_HOME",
                              os.path.join(os.path.expanduser("~"), ".cache", "wcoord-kafka"))
        try:
            return int(open(os.path.join(home, "run-" + self.port, "pid")).read().strip())
        except (OSError, ValueError):
            return None

    def create_topic(self, name, partitions, config=None):
        t = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        admin = self._admin()  # alive until the future is done
        for f in admin.create_topics([t]).values():
            f.result(60)
        self.topics.append(name)

    def forget(self, prefix):
        """Topics named from a contender's group (created by the contender
        itself) to delete at the end."""
        md = self._admin().list_topics(timeout=30)
        self.topics += [t for t in md.topics if t.startswith(prefix)]

    def end_offsets(self, topic):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": unique("ends")})
        try:
            parts = c.list_topics(topic, timeout=30).topics[topic].partitions
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                    for p in sorted(parts)}
        finally:
            c.close()


class LagWatch:
    """How far a group has committed on a topic whose end offsets are known
    (a backlog, or a stream that stopped): one client asked every poll, so
    the probe costs next to nothing."""

    def __init__(self, broker, group, topic, ends):
        # read_uncommitted: a read_committed client asks for stable offsets
        # and waits while a transaction with offsets for the group is open.
        self.c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                           "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
        self.tps = [TopicPartition(topic, p) for p in sorted(ends)]
        self.ends = ends
        self.total = sum(ends.values())

    def committed(self):
        done = 0
        for tp in self.c.committed(self.tps, timeout=30):
            done += min(max(tp.offset, 0), self.ends[tp.partition])
        return done

    def close(self):
        self.c.close()


def read_all(broker, topic, visit, timeout=600):
    """Calls visit(message) for every record of `topic` a read_committed
    consumer sees, up to the end. Transactional topics end in control
    markers that are never delivered: end-of-partition events mark the end."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("reader"),
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed", "fetch.max.bytes": 64 << 20})
    try:
        parts = sorted(c.list_topics(topic, timeout=30).topics[topic].partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        remaining = set(parts)
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for m in c.consume(10000, 0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        remaining.discard(m.partition())
                    continue
                visit(m)
        if remaining:
            raise RuntimeError("could not read %s to its end" % topic)
    finally:
        c.close()

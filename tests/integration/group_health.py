#!/usr/bin/env python3
"""Group health against a real broker: every instance exports how many
partitions of the subscribed topics have no owner in the consumer group
(wcoord_group_unowned_partitions) and how long the oldest committed offset
has not moved while records wait after it
(wcoord_group_oldest_commit_age_seconds), so an alert fires on a stall
whatever its cause. Each condition is forced the way it happens in
production and ended the way an operator ends it:

  * transactions on the input: a commit marker or an aborted batch after
    the committed offset is a permanent "lag" of 1 or more that no consumer
    can read: the age must stay 0;
  * partitions added to the topic: no member owns them until the group
    rebalances (librdkafka notices new partitions only at its next periodic
    metadata refresh, every 5 minutes): unowned = 2 and their age grows; a second
    instance joining (scale-out) rebalances the group, which takes them,
    and both metrics return to 0;
  * offsets of the group pending in an open transaction (under
    exactly-once they almost always are): a stable offset read
    (require_stable, what librdkafka asks for when isolation.level is
    read_committed) waits for the transaction to end; the probe reads the
    last committed offsets instead and keeps working;
  * a member that holds partitions but stopped consuming (a plain consumer
    of the same group, cooperative-sticky like wcoord, that no longer
    polls): it is an owner, so unowned stays 0, but the age of its
    partitions grows and the stalled partitions are logged; when it leaves
    the group wcoord takes its partitions over, catches up and the age
    returns to 0.
"""
import json
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from harness import BOOTSTRAP, Coordinator, check, failures, finish, group_lag, unique, wait_until

WCOORD = sys.argv[1]
# New partitions stay unowned until the group rebalances, or until the
# members' periodic metadata refresh (topic.metadata.refresh.interval.ms,
# 5 minutes) notices them: the test ends them long before that.
PROBE = ["--set", "group.health.interval=1s"]


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


class Instance:
    """A `wcoord run` with its /metrics address."""

    def __init__(self, group, topic):
        self.state = tempfile.mkdtemp()
        self.coord = Coordinator(WCOORD, group, topic, self.state, extra=PROBE)
        self.group = group
        wait_until(lambda: self.coord.saw(r"http listening on \S+:\d+") or self.coord.proc.poll() is not None,
                   60, "the http listener")
        addr = re.search(r"http listening on (\S+:\d+)", self.coord.log())
        if not check(addr is not None, "wcoord logged its http address:\n%s" % self.coord.log()[-2000:]):
            finish()
        self.base = "http://" + addr.group(1)

    def metrics(self):
        """{(name, state-label or None): value} of the group health families."""
        status, text = http_get(self.base + "/metrics")
        out = {}
        if status != 200:
            return out
        for line in text.splitlines():
            m = re.match(r'(wcoord_group_\w+)\{(.*)\}\s+(\S+)$', line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            if labels.get("consumergroup") != self.group:
                continue
            out[(m.group(1), labels.get("state"))] = float(m.group(3))
        return out

    def unowned(self):
        return self.metrics().get(("wcoord_group_unowned_partitions", None))

    def age(self):
        return self.metrics().get(("wcoord_group_oldest_commit_age_seconds", None))

    def probes(self):
        return self.metrics().get(("wcoord_group_health_probes_total", None), 0)

    def state_is(self, state):
        return self.metrics().get(("wcoord_group_state", state)) == 1

    def close(self):
        if failures:
            lines = [l for l in self.coord.lines if "Subscribed topic not available" not in l]
            print("---- last lines of the log of %s" % self.base)
            print("\n".join(lines[-150:]))
        if self.coord.proc.poll() is None:
            self.coord.stop()
        shutil.rmtree(self.state, ignore_errors=True)


def send(producer, topic, partition, n, tag):
    for i in range(n):
        key = "%s-%d-%d" % (tag, partition, i)
        producer.produce(topic, partition=partition, key=key.encode(),
                         value=json.dumps({"id": key, "doc": {"i": i}, "timestamp": 1700000000000}).encode())


def produce(topic, per_partition, tag):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True})
    for partition, n in per_partition.items():
        send(p, topic, partition, n, tag)
    check(p.flush(30) == 0, "records delivered")


def stays_zero_for_probes(inst, n, what):
    """The age stays 0 on every scrape while `n` more probes run (the probe
    counter is the clock: no sleeping)."""
    start = inst.probes()
    seen = []

    def step():
        m = inst.metrics()
        seen.append(m.get(("wcoord_group_oldest_commit_age_seconds", None)))
        return m.get(("wcoord_group_health_probes_total", None), 0) >= start + n

    wait_until(step, 30, "%d probes" % n, interval=0.2)
    check(seen and all(v == 0 for v in seen), "%s: commit age stays 0 over %d probes (%s)"
          % (what, n, sorted(set(seen))))


topic, group = unique("health"), unique("health")
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
# The outputs have room for the input's later partitions (co-partitioned).
for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1),
                              NewTopic(group + ".changelog", num_partitions=4, replication_factor=1,
                                       config={"cleanup.policy": "compact"}),
                              NewTopic(group + ".dlq", num_partitions=4, replication_factor=1)]).values():
    f.result(30)

def probes_without_errors(inst, n, timeout, what):
    """`n` more probes run within `timeout` seconds, none of them failing."""
    m = inst.metrics()
    errors = m.get(("wcoord_group_health_probe_errors_total", None), 0)
    start = m.get(("wcoord_group_health_probes_total", None), 0)
    wait_until(lambda: inst.probes() >= start + n, timeout, "%d probes %s" % (n, what))
    m = inst.metrics()
    check(m.get(("wcoord_group_health_probe_errors_total", None)) == errors,
          "no probe error %s: %r\n%s" % (what, m, "\n".join(l for l in inst.coord.lines if "group health" in l)))


def committed_with(isolation, tps, timeout):
    """The group's committed offsets as a consumer of `isolation` reads them
    (librdkafka asks for stable offsets under read_committed), or the error."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "isolation.level": isolation,
                  "enable.auto.commit": False})
    try:
        return [(tp.partition, tp.offset) for tp in c.committed(tps, timeout=timeout)]
    except KafkaException as e:
        return e.args[0]
    finally:
        c.close()


a = b = stalled = holder = None
try:
    a = Instance(group, topic)
    a.coord.wait_assigned()
    wait_until(lambda: a.state_is("Stable") and a.unowned() == 0 and a.age() == 0, 30,
               "group Stable, every partition owned, commit age 0")
    m = a.metrics()
    check(m.get(("wcoord_group_health_probe_errors_total", None)) == 0, "no probe errors: %r\n%s"
          % (m, "\n".join(l for l in a.coord.lines if "group health" in l)))
    check(sum(v for (n, s), v in m.items() if n == "wcoord_group_state") == 1,
          "exactly one state is 1: %r" % m)

    # ---- offsets pending in an open transaction do not block the probe
    # A transactional producer of its own adds offsets of the group to a
    # transaction it leaves open (generation -1: the broker takes them from
    # outside the group), as an exactly-once member does between commits.
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    outsider = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False})
    group_metadata = outsider.consumer_group_metadata()
    outsider.close()
    holder = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": unique("health-holder")})
    holder.init_transactions(30)
    holder.begin_transaction()
    holder.send_offsets_to_transaction([TopicPartition(topic, 0, 0)], group_metadata, 30)
    stable = committed_with("read_committed", tps, 3)
    check(not isinstance(stable, list) and "TIMED_OUT" in str(stable),
          "a stable offset read waits for the open transaction (else this check shows nothing): %r" % (stable,))
    probes_without_errors(a, 4, 30, "while offsets of the group are pending in an open transaction")
    holder.abort_transaction(30)
    holder = None

    produce(topic, {0: 20, 1: 20}, "plain")
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 60, "wcoord consumed everything")
    wait_until(lambda: a.age() == 0, 15, "commit age 0 when caught up")

    # ---- transaction markers and aborted records are not waiting records
    # One producer per transaction (librdkafka 2.0 and Kafka 3.9's
    # transaction verification disagree on a second one right after a commit).
    for partition, n, commit in ((0, 3, True), (1, 2, False)):
        txn = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": unique("health-txn")})
        txn.init_transactions(30)
        txn.begin_transaction()
        send(txn, topic, partition, n, "committed" if commit else "aborted")
        txn.flush(30)  # written, so an abort leaves aborted records behind
        if commit:
            txn.commit_transaction(30)
        else:
            txn.abort_transaction(30)
    wait_until(lambda: group_lag(group, topic)[0] <= 1, 60, "wcoord decided the transaction's records")
    lag = group_lag(group, topic)
    print("after the transactions: end offset - committed offset = %r "
          "(markers and aborted records no consumer reads)" % lag)
    if not any(lag.values()):
        print("note: wcoord committed past the markers; the check below only shows the age stays 0")
    # A probe under way may still have seen the records waiting: start after the next one.
    first = a.probes()
    wait_until(lambda: a.probes() >= first + 2, 15, "two more probes")
    stays_zero_for_probes(a, 5, "markers and aborted records after the committed offset")

    # ---- partitions added: nobody owns them until the group rebalances
    for f in admin.create_partitions([NewPartitions(topic, 4)]).values():
        f.result(30)
    produce(topic, {2: 5, 3: 5}, "new")
    wait_until(lambda: a.unowned() == 2, 30, "wcoord_group_unowned_partitions 2 after adding 2 partitions")
    check(a.state_is("Stable"), "the group is Stable meanwhile: %r" % a.metrics())
    wait_until(lambda: a.age() >= 3, 30, "the new partitions' commit age grows")
    age = a.age()
    wait_until(lambda: a.age() >= age + 2, 30, "... and keeps growing (from %s)" % age)
    wait_until(lambda: a.coord.saw(r"2 partition\(s\) of the subscribed topics have no owner in consumer group %s "
                                   r"\(state Stable, 1 member\(s\)\) for \d+s: %s\[2,3\]"
                                   % (re.escape(group), re.escape(topic))),
               30, "a warning naming the unowned partitions")
    # Scale out: the join rebalances the group with fresh metadata.
    b = Instance(group, topic)
    wait_until(lambda: a.unowned() == 0, 60, "the rebalance gives the new partitions owners")
    wait_until(lambda: all(group_lag(group, topic)[p] == 0 for p in (2, 3)), 60,
               "the new partitions are consumed")
    wait_until(lambda: a.age() == 0, 15, "commit age back to 0")
    wait_until(lambda: b.unowned() == 0 and b.age() == 0 and b.state_is("Stable"), 30,
               "the second instance reports the same")
    check(a.coord.saw(r"every partition of the subscribed topics has an owner in group %s again"
                      % re.escape(group)), "the recovery is logged")

    # ---- a member that owns partitions but stopped consuming
    stalled = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                        "partition.assignment.strategy": "cooperative-sticky",
                        "enable.auto.commit": False, "auto.offset.reset": "earliest",
                        "session.timeout.ms": 10000, "max.poll.interval.ms": 600000})
    stalled.subscribe([topic])
    mark = len(a.coord.lines)  # warnings before this one are about the added partitions
    owned = []

    def joined():
        stalled.poll(0.2)
        owned[:] = sorted(tp.partition for tp in stalled.assignment())
        return bool(owned)

    wait_until(joined, 60, "the plain consumer gets partitions")
    # From here on it never polls again: it stays in the group (its
    # heartbeats go on) and keeps its partitions, but processes nothing.
    wait_until(lambda: a.state_is("Stable"), 30, "the group is Stable again")
    produce(topic, {p: 5 for p in range(4)}, "stalled")
    wait_until(lambda: a.age() >= 5, 30, "commit age grows behind the stalled member's partitions %s" % owned)
    check(a.unowned() == 0, "the stalled member is an owner: unowned stays 0")
    others = [p for p in range(4) if p not in owned]
    wait_until(lambda: all(group_lag(group, topic)[p] == 0 for p in others), 60,
               "wcoord consumed its own partitions %s" % others)
    pattern = (r"partition\(s\) of group %s have records waiting behind a committed offset that does not move: "
               % re.escape(group))

    def warnings():
        return [l for l in a.coord.lines[mark:] if re.search(pattern, l)]

    wait_until(lambda: any("%s[%d] " % (topic, owned[0]) in l for l in warnings()), 30,
               "a warning naming the stalled partition %d" % owned[0])
    warning = warnings()[-1]
    named = sorted(int(p) for p in re.findall(re.escape(topic) + r"\[(\d+)\] \d+s", warning))
    check(named == owned, "the warning names exactly the stalled member's partitions %s: %s" % (owned, warning))
    # It leaves: wcoord takes the partitions over and catches up.
    stalled.close()
    stalled = None
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 90,
               "wcoord caught up on the stalled member's partitions")
    wait_until(lambda: a.age() == 0 and b.age() == 0, 30, "commit age back to 0 on both instances")
    check(a.unowned() == 0 and b.unowned() == 0, "every partition owned")
    wait_until(lambda: any("committed offsets of group %s move again" % group in l for l in a.coord.lines[mark:]),
               15, "the recovery is logged")
    m = a.metrics()
    check(m.get(("wcoord_group_health_probe_errors_total", None)) == 0, "no probe errors: %r\n%s"
          % (m, "\n".join(l for l in a.coord.lines if "group health" in l)))
    b.close()
    b = None
    a.close()
    a = None
finally:
    if holder is not None:
        holder.abort_transaction(30)
    if stalled is not None:
        stalled.close()
    for inst in (b, a):
        if inst is not None:  # only on a failure path: the run ends with close()
            if inst.coord.proc.poll() is None:
                inst.coord.kill()
            inst.close()
finish()

#!/usr/bin/env python3
"""The HTTP side of `wcoord run` against a real broker: /metrics exports every
family deploy/metrics.txt promises and every series the Grafana dashboard and
the chart's PrometheusRule query; its consumer-group lag equals what Kafka's
own kafka-consumer-groups reports, both caught up (0) and held back (a
partition blocked behind an open transaction, which a read_committed consumer
cannot pass); the mutation counters match the sequential replay; /healthz,
/readyz and /v1/docs/{index}/{id} answer as documented."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Producer

from harness import (BOOTSTRAP, ROOT, Coordinator, check, create_topic, finish, group_lag, predict,
                     produce, racing_fixture, read_topic, unique, wait_until)

sys.path.insert(0, os.path.join(ROOT, "deploy", "checks"))
import check_deploy  # noqa: E402  (PromQL metric-name extraction, shared with scripts/check-deploy)

WCOORD = sys.argv[1]
DEPLOY = os.path.join(ROOT, "deploy")
INDEX = "metrics-idx"


# ---------------------------------------------------------------- HTTP

def http_get(url):
    """(status, body-text); never raises on 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_exposition(text):
    """Prometheus text format -> ({family: type}, [(sample-name, {labels}, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            check(False, "unparsable exposition line %r" % line)
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def metrics_lag(base, group, topic):
    _, samples = parse_exposition(http_get(base + "/metrics")[1])
    return {int(l["partition"]): int(v) for n, l, v in samples
            if n == "kafka_consumergroup_lag" and l.get("consumergroup") == group
            and l.get("topic") == topic}


def cli_lag(group, topic):
    """Per-partition LAG as Kafka's kafka-consumer-groups --describe prints it."""
    out = subprocess.run([ROOT + "/scripts/kafka", "tools", "kafka-consumer-groups", "--bootstrap-server",
                          BOOTSTRAP, "--describe", "--group", group], capture_output=True, timeout=120,
                         env={**os.environ, "KAFKA_PORT": BOOTSTRAP.rsplit(":", 1)[1]})
    lag = {}
    for line in out.stdout.decode().splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == group and f[1] == topic and f[5].isdigit():
            lag[int(f[2])] = int(f[5])
    return lag


# ---------------------------------------------------------------- what the deployment queries

def rule_exprs():
    """(exprs, recorded-names) of the chart's PrometheusRule: rendered with helm
    when there is one (every toggle on), else read from the template text."""
    helm = os.environ.get("HELM") or shutil.which("helm")
    for cand in sorted(glob.glob(os.path.expanduser("~/.cache/wcoord-tools/helm-*/helm")), reverse=True) \
            + [os.path.expanduser("~/.cache/wcoord-tools/bin/helm")]:
        if not helm and os.access(cand, os.X_OK):
            helm = cand
    chart = os.path.join(DEPLOY, "helm", "wcoord")
    if helm:
        out = subprocess.run([helm, "template", "wcoord", chart, "--namespace", "wcoord",
                              "--kube-version", "1.30.0", "-f", os.path.join(chart, "ci", "all-on-values.yaml"),
                              "--set", "prometheusRule.enabled=true"], capture_output=True, timeout=120)
        if check(out.returncode == 0, "helm template: %s" % out.stderr.decode()[-500:]):
            rules = [d for d in yaml.safe_load_all(out.stdout) if d and d.get("kind") == "PrometheusRule"]
            check(len(rules) == 1, "the chart renders one PrometheusRule (%d)" % len(rules))
            exprs, recorded = [], set()
            for pr in rules:
                for g in pr["spec"]["groups"]:
                    for r in g["rules"]:
                        exprs.append(r["expr"])
                        if "record" in r:
                            recorded.add(r["record"])
            print("PrometheusRule rendered with %s: %d rules" % (helm, len(exprs)))
            return exprs, recorded
    # No helm: the template's text, with its string variables substituted and
    # every other action replaced by a number (label selectors, ranges and
    # thresholds carry no metric names).
    exprs, recorded = [], set()
    for path in glob.glob(os.path.join(chart, "templates", "*rule*")):
        text = open(path).read()
        consts = dict(re.findall(r'\{\{-?\s*(\$\w+)\s*:=\s*"([^"]*)"\s*-?\}\}', text))

        def render(s):
            s = re.sub(r"\{\{-?\s*(\$\w+)\s*-?\}\}", lambda m: consts.get(m.group(1), "1"), s)
            return re.sub(r"\{\{.*?\}\}", "1", s)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"\s*(?:-\s*)?(expr|record):\s*(.*)$", line)
            if not m:
                continue
            value = m.group(2).strip()
            if m.group(1) == "record":
                recorded.add(render(value).strip())
                continue
            if value in ("|", "|-", ">", ">-"):
                block, key_col = [], m.start(1)
                for nxt in lines[i + 1:]:
                    if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= key_col:
                        break
                    block.append(nxt)
                value = "\n".join(block)
            exprs.append(render(value))
    print("PrometheusRule read from the template text (no helm): %d rules" % len(exprs))
    return exprs, recorded


def deployment_series():
    """{series name: where it is queried} for the dashboard and the alerts."""
    series = check_deploy.expand_series(check_deploy.load_metrics(Path(DEPLOY) / "metrics.txt"))
    used = {}

    def note(expr, where):
        for name in check_deploy.promql_check(expr, series, where):
            used.setdefault(name, where)

    dash = json.load(open(os.path.join(DEPLOY, "grafana", "wcoord-dashboard.json")))
    panels = list(dash.get("panels", []))
    for p in list(panels):
        panels += p.get("panels", [])  # collapsed rows
    for p in panels:
        for t in p.get("targets") or []:
            if t.get("expr"):
                note(t["expr"], "dashboard panel %r" % p.get("title"))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q or "")
        if v.get("type") == "query" and m:
            note(m.group(1), "dashboard variable %s" % v.get("name"))
    exprs, recorded = rule_exprs()
    check(len(exprs) >= 5 and recorded, "found the PrometheusRule's rules (%d) and recording rules" % len(exprs))
    for e in exprs:
        note(e, "PrometheusRule")
    for name in list(used):
        if name == "up" or name in recorded or name.startswith("kube_"):
            del used[name]
    return used


# ---------------------------------------------------------------- the run

topic, group = unique("metrics"), unique("metrics")
create_topic(topic, 3)
records = racing_fixture(ids=20, per_id=15, seed=11)
# Hand-written cases on one key each (same key, same partition, in order).
hand = [
    (b"a", {"index": INDEX, "id": "a", "version_type": "external", "version": 2, "doc": {"v": 2}}),
    (b"a", {"index": INDEX, "id": "a", "version_type": "external", "version": 1, "doc": {"v": 1}}),  # stale
    (b"b", {"index": INDEX, "id": "b", "doc": {"n": 1}}),
    (b"b", {"index": INDEX, "id": "b", "version": 7, "doc": {"n": 2}}),  # conflict: b is at version 1
]
records += [(k, json.dumps(dict(v, timestamp=1700000000000)).encode()) for k, v in hand]
records.append((b"c", b'{"index":"' + INDEX.encode() + b'","id":"c","version":"x","doc":{}}'))  # invalid

state = tempfile.mkdtemp()
coord = txn = None
try:
    # Document reads are off by default (issue 8); this test reads them on http.listen.
    coord = Coordinator(WCOORD, group, topic, state, extra=("--set", "http.docs.enabled=true"))
    wait_until(lambda: coord.saw(r"http listening on \S+:\d+") or coord.proc.poll() is not None, 60,
               "the http listener")
    addr = re.search(r"http listening on (\S+:\d+)", coord.log())
    if not check(addr is not None, "wcoord logged its http address:\n%s" % coord.log()[-2000:]):
        finish()
    base = "http://" + addr.group(1)
    coord.wait_assigned()
    check(http_get(base + "/healthz")[0] == 200, "/healthz 200")
    wait_until(lambda: http_get(base + "/readyz")[0] == 200, 60, "/readyz 200 once assigned")
    ready = json.loads(http_get(base + "/readyz")[1])
    check(ready.get("ready") is True and ready.get("assigned_partitions") == 3,
          "/readyz reports ready with 3 partitions: %r" % ready)

    produce(topic, records)
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0, 120, "lag 0 (committed offsets)")
    # The metric follows librdkafka's statistics (every 5 s).
    wait_until(lambda: metrics_lag(base, group, topic) == {0: 0, 1: 0, 2: 0}, 30,
               "kafka_consumergroup_lag 0 on all 3 partitions")
    cli = cli_lag(group, topic)
    check(cli == {0: 0, 1: 0, 2: 0}, "kafka-consumer-groups shows lag 0 everywhere: %r" % cli)
    check(metrics_lag(base, group, topic) == cli, "/metrics lag equals kafka-consumer-groups when caught up")

    # ---- every promised family, with samples, of the promised type
    text = http_get(base + "/metrics")[1]
    types, samples = parse_exposition(text)
    names = {n for n, _, _ in samples}
    promised = check_deploy.load_metrics(Path(DEPLOY) / "metrics.txt")
    check(len(promised) >= 10, "deploy/metrics.txt lists the families (%d)" % len(promised))
    for fam, typ in promised.items():
        check(types.get(fam) == typ, "%s exported as a %s (scrape says %s)" % (fam, typ, types.get(fam)))
        want = [fam + s for s in ("_bucket", "_sum", "_count")] if typ == "histogram" else [fam]
        for w in want:
            check(w in names, "/metrics has samples of %s" % w)
    queried = deployment_series()
    for name, where in sorted(queried.items()):
        check(name in names, "%s (queried by %s) is exported" % (name, where))
    print("scrape: %d families, %d samples; checked %d promised families and %d queried series"
          % (len(types), len(samples), len(promised), len(queried)))

    # ---- counters agree with the sequential replay
    inputs = read_topic(topic)
    expected, _ = predict(WCOORD, inputs, topic)
    outcomes = [b["outcome"] for b in expected.values()]
    check(all(o in outcomes for o in ("applied", "stale", "conflict", "invalid")),
          "the fixture exercises every outcome: %r" % {o: outcomes.count(o) for o in set(outcomes)})
    by_outcome = {}
    for n, l, v in samples:
        if n == "wcoord_mutations_total":
            by_outcome[l["outcome"]] = by_outcome.get(l["outcome"], 0) + int(v)
    for o in ("applied", "stale", "conflict", "invalid"):
        check(by_outcome.get(o, 0) == outcomes.count(o), "wcoord_mutations_total{outcome=%s} = %s, replay says %d"
              % (o, by_outcome.get(o), outcomes.count(o)))
    dlq = sum(v for n, _, v in samples if n == "wcoord_dlq_produced_total")
    check(dlq == outcomes.count("conflict") + outcomes.count("invalid"),
          "wcoord_dlq_produced_total %d = conflicts + invalid" % dlq)
    count = {n: v for n, l, v in samples if not l}
    check(count.get("wcoord_decision_latency_seconds_count") == len(records),
          "one decision latency observed per record (%s)" % count.get("wcoord_decision_latency_seconds_count"))
    check(count.get("wcoord_assigned_partitions") == 3 and count.get("wcoord_ready") == 1,
          "wcoord_assigned_partitions 3, wcoord_ready 1")

    # ---- GET /v1/docs/{index}/{id}
    status, body = http_get(base + "/v1/docs/%s/a" % INDEX)
    doc = json.loads(body)
    check(status == 200 and doc.get("found") is True and doc.get("_version") == 2
          and doc.get("_source") == {"v": 2} and doc.get("_index") == INDEX and doc.get("_id") == "a",
          "doc a at external version 2, the stale write ignored: %s %s" % (status, body))
    status, body = http_get(base + "/v1/docs/%s/b" % INDEX)
    doc = json.loads(body)
    check(status == 200 and doc.get("_version") == 1 and doc.get("_source") == {"n": 1},
          "doc b at version 1, the conflicting write refused: %s %s" % (status, body))
    status, body = http_get(base + "/v1/docs/%s/c" % INDEX)
    check(status == 404 and json.loads(body).get("found") is False, "invalid c never stored: %s %s" % (status, body))
    status, body = http_get(base + "/v1/docs/%s/no-such-doc" % INDEX)
    check(status == 404 and json.loads(body) == {"_index": INDEX, "_id": "no-such-doc", "found": False},
          "missing doc: 404 found:false (%s %s)" % (status, body))
    for bad in ("/v1/docs/only-an-index", "/v1/docs/%s/a/extra" % INDEX, "/v1/docs//a", "/v1/docs/%s/" % INDEX):
        status, body = http_get(base + bad)
        check(status == 400 and json.loads(body).get("status") == 400, "%s: 400 (%s %s)" % (bad, status, body))
    # Every fixture document as the replay left it (last applied decision per doc).
    last = {}
    for (p, off), b in sorted(expected.items()):
        if b["outcome"] == "applied":
            last[(b["_index"], b["_id"])] = b
    checked = 0
    for (index, doc_id), b in sorted(last.items()):
        status, body = http_get(base + "/v1/docs/%s/%s" % (index, doc_id))
        doc = json.loads(body)
        if b["result"] == "deleted":
            ok = status == 404 and doc.get("found") is False
        else:
            ok = status == 200 and doc.get("found") is True and doc.get("_version") == b["_version"]
        checked += check(ok, "GET %s/%s = %s %s, replay: %s v%s" % (index, doc_id, status, body[:200],
                                                                     b["result"], b["_version"]))
    check(checked >= 20, "checked %d replayed documents over HTTP" % checked)
    print("GET /v1/docs matched the replay for %d documents" % checked)

    # ---- a non-zero lag: an open transaction holds partitions 0 and 1 back
    # (a read_committed consumer stops at its first record, so the committed
    # offset stays there while the high watermark moves past it).
    held = {0: 7, 1: 13}
    txn = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": unique("held"),
                    "transaction.timeout.ms": 300000})
    txn.init_transactions(30)
    txn.begin_transaction()
    for p, n in held.items():
        for i in range(n):
            txn.produce(topic, key=b"held", partition=p,
                        value=json.dumps({"id": "held", "doc": {"i": i}, "timestamp": 1700000000000}).encode())
    txn.flush(30)
    want = {0: held[0], 1: held[1], 2: 0}
    # (harness.group_lag cannot tell: its read_committed watermark query
    # answers the last stable offset, not the high watermark.)
    wait_until(lambda: metrics_lag(base, group, topic) == want, 30, "kafka_consumergroup_lag %r" % want)
    got = metrics_lag(base, group, topic)
    cli = cli_lag(group, topic)
    check(cli == want, "kafka-consumer-groups shows %r: %r" % (want, cli))
    check(got == cli, "/metrics lag %r equals kafka-consumer-groups %r while held back" % (got, cli))
    _, samples = parse_exposition(http_get(base + "/metrics")[1])
    lag_sum = [v for n, l, v in samples if n == "kafka_consumergroup_lag_sum" and l.get("topic") == topic]
    check(lag_sum == [sum(want.values())], "kafka_consumergroup_lag_sum %r = %d" % (lag_sum, sum(want.values())))
    check(http_get(base + "/healthz")[0] == 200 and http_get(base + "/readyz")[0] == 200,
          "healthy and ready while held back")
    txn.abort_transaction(30)
    txn = None
    coord.stop()
finally:
    if coord is not None and coord.proc.poll() is None:
        coord.kill()  # only on a failure path: the run ends with coord.stop()
    if txn is not None:
        try:
            txn.abort_transaction(10)
        except Exception:  # the test has already failed; do not hide why
            pass
    shutil.rmtree(state, ignore_errors=True)
finish()

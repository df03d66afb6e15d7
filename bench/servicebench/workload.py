"""The mutations every contender drains: what sync jobs, services and
loaders send, with races (the workload kafka_bench.py used, unchanged, so
figures stay comparable across issues)."""
import json
import random


def lines(n, ids, seed=5, distinct=False):
    """n mutation JSON lines over `ids` documents. `distinct`: every line a
    document of its own (ids >= n), in random order: the live set only grows,
    which is what passivation and per-actor memory are measured on."""
    rng = random.Random(seed)
    order = rng.sample(range(ids), n) if distinct else None
    versions = {}
    out = []
    for i in range(n):
        d = order[i] if distinct else rng.randrange(ids)
        doc = "doc-%d" % d
        r = rng.random()
        if r < 0.60:  # replicas: mostly increasing external versions, some late
            v = versions.get(d, 0) + 1
            versions[d] = v
            if rng.random() < 0.25:
                v = max(1, v - rng.randrange(1, 4))
            m = {"id": doc, "version_type": "external", "version": v,
                 "doc": {"name": "customer %d" % d, "v": v, "tags": ["a", "b"],
                         "pad": "x" * rng.randrange(40, 200)}}
        elif r < 0.80:
            m = {"id": doc, "version": rng.randrange(1, 4), "doc": {"cart": rng.randrange(100)}}
        elif r < 0.88:
            m = {"op": "create", "id": doc, "doc": {"created": i}}
        elif r < 0.95:
            m = {"op": "delete", "id": doc}
        elif r < 0.99:
            m = {"id": doc, "doc": {"n": i}}
        else:  # unreadable: sent without a key, as `wcoord produce` sends it
            out.append(("", '{"id":"%s","doc":{"broken":' % doc))
            continue
        m["timestamp"] = 1700000000000 + i
        out.append((doc, json.dumps(m, separators=(",", ":"))))
    return out


def write_keyed(records, path):
    """key<TAB>value lines, as bench/latency_probe reads them."""
    with open(path, "w") as f:
        for key, value in records:
            f.write("%s\t%s\n" % (key, value))

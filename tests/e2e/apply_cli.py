#!/usr/bin/env python3
"""End-to-end tests of `wcoord apply` through the real binary: conformance
vectors, bad input of every kind, input order, streaming memory."""
import json
import os
import resource
import subprocess
import sys

WCOORD = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def apply(stdin_bytes, *args):
    p = subprocess.run([WCOORD, "apply", "--quiet", *args], input=stdin_bytes,
                       capture_output=True, timeout=600)
    return p.returncode, [json.loads(l) for l in p.stdout.decode().splitlines()], p.stderr


def body(answer):
    (action, b), = answer.items()
    return action, b


def test_vectors():
    inputs = open(os.path.join(VECTORS, "public.jsonl"), "rb").read()
    expected = [json.loads(l) for l in open(os.path.join(VECTORS, "public.expected.jsonl")) if l.strip()]
    rc, got, _ = apply(inputs, "--gc-deletes", "60s")
    check(rc == 0, "vectors: exit 0")
    check(len(got) == len(expected), "vectors: one answer per line")
    for i, (e, g) in enumerate(zip(expected, got)):
        (action, eb), = e.items()
        gb = g.get(action)
        if gb is None:
            check(False, "vectors line %d: action %s" % (i + 1, action))
            continue
        for k, v in eb.items():
            if k == "error":
                for ek, ev in v.items():
                    check(gb.get("error", {}).get(ek) == ev, "vectors line %d error.%s" % (i + 1, ek))
            else:
                check(gb.get(k) == v, "vectors line %d %s: %r != %r" % (i + 1, k, gb.get(k), v))


def test_bad_input_never_stops_the_run():
    lines = [
        b'{"id":"a","doc":{"v":1}}',
        b'{"id":"a","doc":{"v":1}',                      # truncated
        b'not json',
        b'[1,2]',
        b'{"id":"a","doc":{"bad":"\xff\xfe"}}',           # invalid UTF-8
        b'{"id":7,"doc":{}}',                              # wrong type
        b'{"id":"a","version":99999999999999999999,"doc":{}}',
        b'{"op":"upsert","id":"a","doc":{}}',
        b'{"id":"a","doc":' + b'[' * 5000 + b']' * 5000 + b'}',
        b'{"id":"big","doc":{"x":"' + b'a' * (10 << 20) + b'"}}',  # 10 MB
        b'{"id":"a","doc":{"v":2}}',
    ]
    rc, got, _ = apply(b"\n".join(lines) + b"\n")
    check(rc == 0, "bad input: exit 0")
    check(len(got) == len(lines), "bad input: one answer per line (%d)" % len(got))
    outcomes = [body(a)[1]["outcome"] for a in got]
    check(outcomes == ["applied"] + ["invalid"] * 9 + ["applied"], "bad input outcomes %s" % outcomes)
    check(all(body(a)[1]["status"] == 400 for a in got[1:-1]), "bad input: 400s")
    check(body(got[-1])[1]["_version"] == 2, "bad input: the run went on")


def test_duplicate_keys_answer_400():
    # Elasticsearch's strict duplicate detection, at the top level and inside
    # doc (issue 8); the line after each is still decided.
    lines = [
        b'{"id":"a","id":"b","doc":{"v":1}}',
        b'{"id":"a","version_type":"external","version":5,"version":1,"doc":{}}',
        b'{"id":"a","doc":{"v":1,"nested":{"k":1,"k":2}}}',
        b'{"id":"a","doc":{"v":1}}',
        b'{"id":"a","version":07,"doc":{}}',
        b'{"id":"a","doc":{"v":2,"id":"x","nested":{"v":3}}}',
    ]
    rc, got, _ = apply(b"\n".join(lines) + b"\n")
    check(rc == 0 and len(got) == len(lines), "duplicates: one answer per line")
    bodies = [body(a)[1] for a in got]
    for i in range(3):
        b = bodies[i]
        err = b.get("error", {})
        check(b.get("status") == 400 and b.get("outcome") == "invalid"
              and err.get("type") == "x_content_parse_exception"
              and "Duplicate field '" in err.get("reason", ""),
              "duplicates: line %d answered 400 x_content_parse_exception: %r" % (i + 1, b))
    check(bodies[0]["error"]["reason"] == "[1:15] Duplicate field 'id'",
          "duplicates: Elasticsearch's reason %r" % bodies[0]["error"]["reason"])
    check(bodies[3].get("_version") == 1, "duplicates: nothing was applied before line 4")
    check(bodies[4].get("status") == 400 and bodies[4]["error"]["type"] == "parse_exception",
          "07 is not JSON: %r" % bodies[4])
    check(bodies[5].get("_version") == 2, "same names in different objects are fine")


def test_answers_in_input_order():
    n = 50000
    lines = "".join('{"id":"d%d","doc":{"i":%d}}\n' % (i % 997, i) for i in range(n)).encode()
    rc, got, _ = apply(lines)
    check(rc == 0 and len(got) == n, "order: all answered")
    seen = {}
    for i, a in enumerate(got):
        _, b = body(a)
        doc = "d%d" % (i % 997)
        seen[doc] = seen.get(doc, 0) + 1
        if b["_id"] != doc or b["_version"] != seen[doc]:
            check(False, "order: line %d answered %r" % (i, b))
            break


def test_streaming_memory_is_flat():
    # 1M lines over 1000 ids: memory must not grow with input length.
    n = 1_000_000
    gen = subprocess.Popen([sys.executable, "-c",
                            "import sys\n"
                            "w=sys.stdout.write\n"
                            "for i in range(%d): w('{\"id\":\"d%%d\",\"version_type\":\"external\",\"version\":%%d,\"doc\":{\"i\":%%d}}\\n' %% (i %% 1000, i, i))" % n],
                           stdout=subprocess.PIPE)
    p = subprocess.run([WCOORD, "apply", "--quiet"], stdin=gen.stdout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=900)
    gen.wait()
    check(p.returncode == 0, "memory: exit 0")
    count = p.stdout.count(b"\n")
    check(count == n, "memory: %d answers" % count)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("peak RSS of children: %.0f MB" % rss_mb)
    check(rss_mb < 400, "memory: peak RSS %.0f MB stays bounded" % rss_mb)


def test_help_and_usage_errors():
    p = subprocess.run([WCOORD, "apply", "--help"], capture_output=True)
    check(p.returncode == 0 and b"--state-dir" in p.stdout, "apply --help")
    p = subprocess.run([WCOORD, "apply", "--gc-deletes", "soon"], capture_output=True)
    check(p.returncode == 2 and b"duration" in p.stderr, "bad duration is a usage error")
    p = subprocess.run([WCOORD, "--version"], capture_output=True)
    check(p.returncode == 0 and p.stdout.startswith(b"wcoord "), "--version")


for name, fn in list(globals().items()):
    if name.startswith("test_"):
        print("--", name)
        fn()
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""`wcoord run` refuses bad configuration clearly: unknown keys (listing the
valid ones), bad values, mutation topics that disagree on partitions; and
reads file, environment and --set in that order."""
import json
import os
import subprocess
import sys
import tempfile

from harness import BOOTSTRAP, check, create_topic, finish, unique

WCOORD = sys.argv[1]


def run(*args, env=None, timeout=60):
    return subprocess.run([WCOORD, "run", *args], capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


p = run("--set", "grop.id=x")
check(p.returncode == 2, "unknown key is an error")
check(b"unknown configuration key 'grop.id'" in p.stderr and b"group.id" in p.stderr,
      "the error lists valid keys: %s" % p.stderr[:200])
p = run("--set", "gc.deletes=soon")
check(p.returncode == 2 and b"gc.deletes" in p.stderr, "bad duration is reported")
p = run(env={"WCOORD_MAX_INFLIGHT_RECORDS": "zero"})
check(p.returncode == 2 and b"WCOORD_MAX_INFLIGHT_RECORDS" in p.stderr, "environment is read")
with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
    f.write("# comment\nbehavior.on.stale.version = sometimes\n")
p = run("--config", f.name)
check(p.returncode == 2 and b":2:" in p.stderr, "file errors name the line: %s" % p.stderr)
p = run("--config", f.name, "--set", "behavior.on.stale.version=log", "--help")
check(p.returncode == 0 and b"passivation.idle.timeout" in p.stdout, "--help lists keys")

a, b = unique("pa"), unique("pb")
create_topic(a, 2)
create_topic(b, 3)
state = tempfile.mkdtemp()
p = run("--set", "bootstrap.servers=" + BOOTSTRAP, "--set", "topics=%s,%s" % (a, b),
        "--set", "state.dir=" + state, "--set", "kafka.sasl.password=hunter2",
        "--set", "http.listen=127.0.0.1:0")
check(p.returncode == 1 and b"disagree on partition count" in p.stderr,
      "co-partitioning is checked: %s" % p.stderr[-300:])
check(b"hunter2" not in p.stderr and b"kafka.sasl.password=******" in p.stderr,
      "secrets are masked in the logged config")

# log.format=json: every line one JSON object a log collector can parse.
p = run("--set", "bootstrap.servers=" + BOOTSTRAP, "--set", "topics=%s,%s" % (a, b),
        "--set", "state.dir=" + state, "--set", "log.format=json",
        "--set", 'kafka.client.id=quote"and\\backslash', "--set", "http.listen=127.0.0.1:0")
lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
check(len(lines) > 5, "json logs written")
parsed = []
for l in lines:
    try:
        parsed.append(json.loads(l))
    except ValueError:
        check(False, "log line is JSON: %r" % l[:200])
check(all({"ts", "level", "logger", "msg"} <= set(o) for o in parsed), "json log fields")
check(any('quote"and\\backslash' in o["msg"] for o in parsed), "messages escaped, not broken")
check(any(o["level"] == "critical" and "partition count" in o["msg"] for o in parsed),
      "the refusal is logged as critical")
finish()

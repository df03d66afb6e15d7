#!/usr/bin/env python3
"""Hostile records through `wcoord run` against a real broker (issue 8,
items 1-3), on a topic with the broker's default limits (max.message.bytes
1 MB): none of them may stop the partition.

* 300 KiB of 0xFF and 1,000,000 x 0x01: within the topic's limits, but six
  times larger once escaped; their dead letters keep a cut, valid prefix
  and say so;
* an id of 400 KB (its reason would repeat it in the value and a header)
  and a 400 KB header beside a value that grows when escaped: key, headers
  and reasons are bounded too;
* `{"version":07}`: not JSON, so its dead letter carries it as a string;
* duplicate keys (id, version, inside doc): 400 x_content_parse_exception;
* then a good record, which must be applied.

The process must not exit, lag must reach 0, each bad record must have
exactly one dead letter, valid JSON with its reason; a restart must not
publish them again."""
import json
import shutil
import sys
import tempfile
import time

from confluent_kafka import Producer

from harness import (BOOTSTRAP, Coordinator, check, create_topic, finish, group_lag,
                     headers_of, read_topic, unique, wait_until)

WCOORD = sys.argv[1]
topic, group = unique("hostile"), unique("hostile")
create_topic(topic, 1)  # the broker's default max.message.bytes (1 MB)

long_id = "L" * 400_000
records = [  # (name, key, value, headers)
    ("0xff", b"ff", b"\xff" * (300 << 10), None),
    ("0x01", b"ctl", b"\x01" * 1_000_000, None),
    ("long-id", b"long", json.dumps({"id": long_id, "doc": {}}).encode(), None),
    ("big-header", b"hdr", b"\x01" * 120_000,
     [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
      ("big", b"h" * 400_000), ("after", b"small")]),
    ("07", b"z7", b'{"id":"z7","version":07,"doc":{}}', None),
    ("dup-id", b"dup-id", b'{"id":"dup-id","id":"dup-id","doc":{"v":1}}', None),
    ("dup-version", b"dup-ver",
     b'{"id":"dup-ver","version_type":"external","version":5,"version":1,"doc":{}}', None),
    ("dup-in-doc", b"dup-doc", b'{"id":"dup-doc","doc":{"k":1,"nested":{"q":1,"q":2}}}', None),
    ("good", b"good", b'{"id":"good","doc":{"ok":true}}', None),
]
prod = Producer({"bootstrap.servers": BOOTSTRAP, "message.max.bytes": 2_000_000})
delivered = {}
for name, k, v, h in records:
    prod.produce(topic, key=k, value=v, headers=h,
                 on_delivery=lambda err, msg, name=name: delivered.__setitem__(
                     name, msg.offset() if err is None else err))
check(prod.flush(60) == 0, "fixture produced")
bad = [r[0] for r in records if r[0] != "good"]
check(all(isinstance(delivered.get(r[0]), int) for r in records),
      "the broker took every record at its default limits: %s" % delivered)
offsets = {delivered[name]: name for name in delivered if isinstance(delivered[name], int)}

state = tempfile.mkdtemp()
try:
    c = Coordinator(WCOORD, group, topic, state)
    c.wait_assigned()
    wait_until(lambda: sum(group_lag(group, topic).values()) == 0 or c.proc.poll() is not None,
               90, "lag 0 past the hostile records")
    check(c.proc.poll() is None, "the coordinator is still running (rc=%s)\n%s"
          % (c.proc.returncode, "\n".join(c.lines[-15:])))
    check(sum(group_lag(group, topic).values()) == 0, "lag 0")
    c.stop()

    dead = [m for ms in read_topic(group + ".dlq").values() for m in ms]
    by_name = {}
    for m in dead:
        h = headers_of(m)
        name = offsets.get(int(h.get("__connect.errors.offset", -1)), "?")
        by_name.setdefault(name, []).append(m)
    check(sorted(by_name) == sorted(bad),
          "a dead letter for each bad record and none for the good one: %s" % sorted(by_name))
    # What wcoord creates its output topics with (kafka/topics.cpp).
    limit = (1 << 20) + (64 << 10)
    for name in bad:
        ms = by_name.get(name, [])
        check(len(ms) == 1, "%s: exactly one dead letter (%d)" % (name, len(ms)))
        if not ms:
            continue
        m = ms[0]
        h = headers_of(m)
        size = len(m.value()) + len(m.key() or b"") + sum(len(k) + len(v or b"")
                                                           for k, v in (m.headers() or []))
        check(size < limit, "%s: the dead letter fits an output record (%d bytes)" % (name, size))
        try:
            v = json.loads(m.value())
        except ValueError as e:
            check(False, "%s: the dead letter is valid JSON (%s)" % (name, e))
            continue
        err = v.get("error") or {}
        check(v.get("status") == 400 and v.get("outcome") == "invalid" and err.get("reason"),
              "%s: 400 invalid with a reason: %s" % (name, str(v)[:300]))
        check(len(err.get("reason", "")) <= 1030
              and len(h.get("__connect.errors.exception.message") or "") <= 1030,
              "%s: the reason is bounded" % name)
        original = next(r[2] for r in records if r[0] == name)
        if name in ("0xff", "0x01"):
            check(v.get("mutation_truncated") is True and v.get("mutation_bytes") == len(original),
                  "%s: says it was cut, and the original's size" % name)
            check(isinstance(v.get("mutation"), str) and 0 < len(v["mutation"]) <= 64 << 10,
                  "%s: keeps a prefix of at most 64 KiB" % name)
            check("mutation" in (h.get("wcoord.truncated") or ""),
                  "%s: the wcoord.truncated header says so" % name)
        if name == "0xff":
            check(set(v.get("mutation", "")) == {"\ufffd"}, "0xff: whole replacement characters")
        if name == "0x01":
            check(set(v.get("mutation", "")) == {"\x01"}, "0x01: whole escapes")
        if name == "long-id":
            check(v.get("mutation_truncated") is None and v.get("mutation", {}).get("id") == long_id,
                  "long-id: the original is whole, as JSON")
        if name == "big-header":
            check("big" not in h and h.get("traceparent", "").startswith("00-0af7")
                  and h.get("after") == "small",
                  "big-header: the huge header stays behind, the others travel: %s" % sorted(h))
            check("headers" in (h.get("wcoord.truncated") or ""), "big-header: wcoord.truncated")
            check(v.get("mutation") == original.decode(), "big-header: the original is whole")
        if name == "07":
            check(v.get("mutation") == original.decode() and err.get("type") == "parse_exception",
                  "07: the original as a string, a parse_exception: %s" % str(v)[:300])
        if name.startswith("dup-"):
            check(err.get("type") == "x_content_parse_exception"
                  and "Duplicate field '" in err.get("reason", ""),
                  "%s: Elasticsearch's duplicate-field error: %s" % (name, err))
            check(h.get("__connect.errors.exception.class.name") == "x_content_parse_exception",
                  "%s: the Connect header names the error type" % name)
            check(isinstance(v.get("mutation"), dict), "%s: the original as JSON" % name)
    applied = [json.loads(m.value()) for ms in read_topic(group + ".changelog").values()
               for m in ms]
    check([a["_id"] for a in applied] == ["good"], "the good record is applied: %s"
          % [a.get("_id") for a in applied])

    # A restart neither stops nor publishes them again.
    c = Coordinator(WCOORD, group, topic, state)
    c.wait_assigned()
    time.sleep(3)
    check(c.proc.poll() is None, "a restart keeps running")
    c.stop()
    again = sum(len(ms) for ms in read_topic(group + ".dlq").values())
    check(again == len(dead), "no dead letter twice after a restart (%d, %d)" % (len(dead), again))
finally:
    shutil.rmtree(state, ignore_errors=True)
finish()

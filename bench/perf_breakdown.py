#!/usr/bin/python3
"""Where `wcoord run` spends its CPU, by component, from a perf profile with
call graphs (service_bench.py --perf-record DIR):

    perf script -i DIR/wcoord-1M.data -F comm,tid,ip,sym,dso > /tmp/alo.txt
    /usr/bin/python3 bench/perf_breakdown.py /tmp/alo.txt
    /usr/bin/python3 bench/perf_breakdown.py /tmp/alo.txt --inside render_dead_letter

Each sample goes to the first component whose rule its thread name or call
stack matches (the list below, most specific first); allocation (the leaf
is malloc/free/jemalloc), copies (memcpy/memmove) and kernel time are
counted across components. `--inside FRAME` lists what the samples with
FRAME on their stack were doing just below it.
"""
import argparse
import collections
import re

RULES = [
    ("librdkafka broker threads (fetch, produce I/O)", lambda c, s: c.startswith("rdk:broker")),
    ("librdkafka other threads", lambda c, s: c.startswith("rdk:")),
    ("parse: index name check", lambda c, s: "invalid_index_name_reason" in s),
    ("parse: simdjson + validation", lambda c, s: "mutation_parser::parse" in s),
    ("parse: record decoder, other", lambda c, s: "record_decoder::decode" in s),
    ("consumer: copy record into work_item", lambda c, s: "to_work" in s),
    ("consumer: librdkafka hand-off (poll, destroy)",
     lambda c, s: "poll_once" in s and ("rd_kafka" in s or "handle_deleter" in s)),
    ("consumer: batch to shards", lambda c, s: "submitter::" in s),
    ("publisher: render changelog / dead letter", lambda c, s: "render_output" in s),
    ("publisher: produce (librdkafka enqueue)", lambda c, s: "producer::send" in s),
    ("publisher: delivery reports",
     lambda c, s: "dispatch_reports" in s or "delivered(" in s or "rd_kafka_poll" in s),
    ("publisher: other", lambda c, s: "publisher_behavior" in s or "release_ready" in s),
    ("document actors: decide", lambda c, s: "decide_one" in s or "document_behavior" in s),
    ("shards: route, LRU, passivation", lambda c, s: "shard_behavior" in s),
    ("store: RocksDB", lambda c, s: "rocksdb::" in s),
    ("store actor: other", lambda c, s: "store_behavior" in s),
    # Method names only: template signatures of other frames name the types.
    ("offset tracking + commit",
     lambda c, s: "offset_tracker::" in s or "kafka::(anonymous namespace)::commit " in s),
    ("sink: metrics", lambda c, s: "observe_done" in s or "spawn_offset_sink" in s),
    ("consumer: statistics callback", lambda c, s: "stats_cb" in s),
    ("consumer: other", lambda c, s: "consumer_behavior" in s),
    ("CAF: scheduling, mailboxes, message lifetimes", lambda c, s: "caf::" in s),
]
ALLOC = re.compile(r"libjemalloc|^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free)\b"
                   r"|operator new|operator delete")
COPY = re.compile(r"memmove|memcpy")


def samples(path):
    """(thread name, frames leaf first) per sample of `perf script` output."""
    comm, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if comm is not None:
                    yield comm, frames
                comm, frames = None, []
            elif not line[0].isspace():
                comm = line.split()[0]
            else:
                parts = line.strip().split(" ", 1)
                frames.append(parts[1] if len(parts) > 1 else "")
    if comm is not None:
        yield comm, frames


def component(comm, frames):
    stack = "\n".join(frames)
    return next((name for name, rule in RULES if rule(comm, stack)), "other")


def breakdown(path):
    total = 0
    share, alloc, copy, kernel = (collections.Counter() for _ in range(4))
    for comm, frames in samples(path):
        total += 1
        name = component(comm, frames)
        share[name] += 1
        leaf = frames[0] if frames else ""
        alloc[name] += bool(ALLOC.search(leaf))
        copy[name] += bool(COPY.search(leaf))
        kernel[name] += "kernel.kallsyms" in leaf
    pct = lambda n: 100.0 * n / max(total, 1)
    print("%d samples" % total)
    print("%-50s %6s %7s %6s %7s" % ("component", "share", "alloc", "copy", "kernel"))
    for name, n in share.most_common():
        print("%-50s %5.1f%% %6.1f%% %5.1f%% %6.1f%%" % (name, pct(n), pct(alloc[name]),
                                                       pct(copy[name]), pct(kernel[name])))
    print("%-50s %5.1f%% %6.1f%% %5.1f%% %6.1f%%" % ("all", 100.0, pct(sum(alloc.values())),
                                                   pct(sum(copy.values())),
                                                   pct(sum(kernel.values()))))


def inside(path, frame):
    found = 0
    below = collections.Counter()
    for _, frames in samples(path):
        names = [f.split(" (")[0] for f in frames]
        i = next((k for k, f in enumerate(names) if frame in f), None)
        if i is None:
            continue
        found += 1
        below[names[i - 1][:100] if i > 0 else "(itself)"] += 1
    print("%d samples with %s on the stack" % (found, frame))
    for name, n in below.most_common(20):
        print("%6d %s" % (n, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("script_output", help="perf script -F comm,tid,ip,sym,dso output")
    ap.add_argument("--inside", metavar="FRAME")
    args = ap.parse_args()
    if args.inside:
        inside(args.script_output, args.inside)
    else:
        breakdown(args.script_output)


if __name__ == "__main__":
    main()

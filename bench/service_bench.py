#!/usr/bin/python3
"""wcoord against its ceilings and against Kafka Streams, in one run.

    /usr/bin/python3 bench/service_bench.py            # the full run (~30 min on 2 cores)
    /usr/bin/python3 bench/service_bench.py --records 20000 --quick   # a smoke run

Against the local real broker (scripts/kafka, KAFKA_PORT), the driver
pre-produces each workload once (1M mutations over 100k ids, the workload
of the earlier kafka_bench.py; then 1M mutations on 1M distinct ids), and
each contender drains it from a fresh consumer group and fresh state:

* raw consume: kcat reading the topic to its end (the fetch ceiling);
* the copy ceiling (bench/copy_ceiling.cpp): one output per input through
  wcoord's own producer, offsets committed as wcoord commits them, at least
  once and transactional;
* `wcoord run`, at_least_once and exactly_once, at its default settings;
* the Kafka Streams baseline (bench/baselines/kafka-streams), at_least_once
  and exactly_once_v2, with 1 and 2 stream threads (the best one counts).

A drain is timed from the moment the contender has its partitions until the
group's committed offsets reach the end of the topic. Then the outputs are
read back (read_committed) and every deciding contender must have published
the same decisions as wcoord at_least_once: the same changelog records and
dead letters, compared by count and by a digest of (source partition,
offset, version, result | outcome, status). On the first workload each
contender then runs again on a fresh topic at a fixed offered rate of half
its own drain rate, and bench/latency_probe measures the end-to-end latency
(produce call → output visible to a read_committed consumer).

Everything is reported as ratios measured in the same run (the machine is
shared and noisy; the "others" column says how many cores other processes
used meanwhile), in Markdown and JSON (--out). Exit status 1 when a
contender's outputs differ or a contender failed.
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servicebench import report, workload  # noqa: E402
from servicebench.broker import Broker, LagWatch, read_all, unique  # noqa: E402
from servicebench.contenders import PARTITIONS, Copy, Streams, Wcoord  # noqa: E402
from servicebench.measure import Process, Progress, Window, peak_rss_mb  # noqa: E402

STREAMS_DIR = os.path.join(ROOT, "bench", "baselines", "kafka-streams")


def log(text):
    print(text, file=sys.stderr, flush=True)


class Context:
    """Paths, the broker and the settings every measurement shares."""

    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.wcoord = args.wcoord or os.path.join(self.build, "app", "wcoord")
        self.copy_ceiling = os.path.join(self.build, "bench", "copy_ceiling")
        self.latency_probe = os.path.join(self.build, "bench", "latency_probe")
        self.streams_jar = os.path.join(STREAMS_DIR, "target", "wcoord-streams.jar")
        self.broker = Broker(ROOT, args.port)
        self.commit_interval_ms = args.commit_interval_ms
        self.wcoord_settings = ["commit.interval.ms=%d" % args.commit_interval_ms] + args.set
        self.java_options = ["-Xms%s" % args.streams_heap, "-Xmx%s" % args.streams_heap]
        self.work = tempfile.mkdtemp(prefix="service-bench-")
        self.failures = []


# --- building -----------------------------------------------------------------

def build(ctx, need_streams):
    if not os.path.exists(os.path.join(ctx.build, "build.ninja")):
        log("configuring %s" % ctx.build)
        subprocess.run(["cmake", "-S", ROOT, "-B", ctx.build, "-G", "Ninja",
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True, stdout=subprocess.DEVNULL)
    log("building wcoord, copy_ceiling, latency_probe in %s" % ctx.build)
    subprocess.run(["nice", "cmake", "--build", ctx.build, "--target", "wcoord", "copy_ceiling",
                    "latency_probe"], check=True, stdout=subprocess.DEVNULL)
    if need_streams:
        build_streams(ctx)


def build_streams(ctx):
    """The baseline's jar, built by Maven when missing or older than its
    sources (dependencies from Maven Central, cached in ~/.m2)."""
    sources = [os.path.join(STREAMS_DIR, "pom.xml")] + glob.glob(
        os.path.join(STREAMS_DIR, "src", "**", "*"), recursive=True)
    newest = max(os.path.getmtime(p) for p in sources)
    if os.path.exists(ctx.streams_jar) and os.path.getmtime(ctx.streams_jar) >= newest:
        return
    if not shutil.which("javac") or not shutil.which("mvn"):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            log("installing openjdk-17-jdk-headless and maven")
            subprocess.run(["apt-get", "install", "-y", "-qq", "openjdk-17-jdk-headless", "maven"],
                           check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        else:
            raise SystemExit("the Kafka Streams baseline needs javac and mvn "
                             "(apt-get install openjdk-17-jdk-headless maven)")
    log("building the Kafka Streams baseline (mvn package; first time downloads from Maven Central)")
    t = time.monotonic()
    out = subprocess.run(["nice", "mvn", "-B", "-q", "-f", os.path.join(STREAMS_DIR, "pom.xml"),
                          "package"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("mvn package failed:\n" + (out.stdout + out.stderr)[-4000:])
    log("  built %s in %.0f s" % (os.path.relpath(ctx.streams_jar, ROOT), time.monotonic() - t))


# --- measurements -------------------------------------------------------------

def pre_produce(ctx, records, name):
    # Lowercase: the topic name is the index of mutations without one, and
    # Elasticsearch refuses capitals in index names (every record would be a
    # dead letter).
    topic = unique("bench-" + name.lower())
    ctx.broker.create_topic(topic, PARTITIONS)
    t = time.monotonic()
    data = "".join(value + "\n" for _, value in records).encode()
    subprocess.run([ctx.wcoord, "produce", "--bootstrap-servers", ctx.broker.bootstrap,
                    "--topic", topic], input=data, check=True, stderr=subprocess.DEVNULL)
    ends = ctx.broker.end_offsets(topic)
    if sum(ends.values()) != len(records):
        raise RuntimeError("pre-produced %d of %d records" % (sum(ends.values()), len(records)))
    log("  pre-produced %d records to %s in %.1f s" % (len(records), topic, time.monotonic() - t))
    return topic, ends


def raw_consume(ctx, topic, total):
    """kcat reading the topic to its end: CPU and peak memory from its rusage."""
    b0 = Window(os.getpid(), ctx.broker.pid()).start()
    t = time.monotonic()
    p = subprocess.Popen(["kcat", "-C", "-b", ctx.broker.bootstrap, "-t", topic, "-o", "beginning",
                          "-e", "-q", "-f", "%o\n"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    got = sum(1 for _ in p.stdout)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.monotonic() - t
    w = b0.stop()
    if got != total:
        raise RuntimeError("kcat read %d of %d records" % (got, total))
    return {"rate": total / secs, "seconds": secs,
            "cpu_s_per_m": (usage.ru_utime + usage.ru_stime) / total * 1e6,
            "broker_cpu_s_per_m": w.broker_cpu / total * 1e6,
            "peak_rss_mb": usage.ru_maxrss / 1024, "others_cores": w.others_cores}


def drain(ctx, contender, topic, ends, tag):
    """One contender drains the backlog from a fresh group and state."""
    total = sum(ends.values())
    group = unique(contender.key)
    state = tempfile.mkdtemp(prefix=contender.key + "-", dir=ctx.work)
    contender.prepare(ctx.broker, group)
    proc = contender.start(ctx, topic, group, state, os.path.join(ctx.work, group + ".log"))
    result = {"group": group}
    try:
        proc.wait_for(contender.marker, 180)
        perf = start_perf(ctx, contender, proc.pid, tag)
        watch = LagWatch(ctx.broker, group, topic, ends)
        window = Window(proc.pid, ctx.broker.pid()).start()
        progress = Progress("%s (%s)" % (contender.label, tag), total)
        deadline = time.monotonic() + max(600, total / 1000)
        done = 0
        while done < total:
            if proc.proc.poll() is not None:
                raise RuntimeError("%s exited (rc=%s):\n%s" % (contender.label,
                                                               proc.proc.returncode, proc.tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("%s: not drained in time (%d of %d committed)" % (
                    contender.label, done, total))
            time.sleep(0.05)
            done = watch.committed()
            progress.update(done)
        w = window.stop()
        stop_perf(perf)
        progress.update(done, force=True)
        progress.done()
        rss = peak_rss_mb(proc.pid)
        watch.close()
        result.update({"rate": total / w.wall, "seconds": w.wall,
                       "cpu_s_per_m": w.cpu / total * 1e6,
                       "broker_cpu_s_per_m": w.broker_cpu / total * 1e6,
                       "peak_rss_mb": rss, "others_cores": w.others_cores})
    finally:
        result["clean_exit"] = proc.stop()
        shutil.rmtree(state, ignore_errors=True)
    ctx.broker.forget(group)
    result["outputs"] = read_outputs(ctx, contender, group)
    return result


def start_perf(ctx, contender, pid, tag):
    """--perf-record: `perf record` attached to wcoord for the drain."""
    if not ctx.args.perf_record or contender.family != "wcoord":
        return None
    os.makedirs(ctx.args.perf_record, exist_ok=True)
    out = os.path.join(ctx.args.perf_record, "%s-%s.data" % (
        contender.key, tag.split()[0].replace("/", "-")))
    p = subprocess.Popen(["perf", "record", "-q", "-o", out, "-p", str(pid)]
                         + ctx.args.perf_args.split(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    log("  perf record -p %d -> %s" % (pid, out))
    return p


def stop_perf(p):
    if p:
        p.send_signal(signal.SIGINT)
        p.wait(120)


def digest_of(items):
    """An order-independent digest of a multiset of tuples."""
    total = 0
    for t in items:
        total += int.from_bytes(hashlib.blake2b(repr(t).encode(), digest_size=8).digest(), "big")
    return "%016x" % (total % (1 << 64))


def read_outputs(ctx, contender, group):
    """What the contender published, read back as a read_committed consumer."""
    if not contender.decides:
        n = [0]
        read_all(ctx.broker, group + ".copy", lambda m: n.__setitem__(0, n[0] + 1))
        return {"copied": n[0]}
    changelog, deadletters = [], []

    def header(m, names):
        h = dict(m.headers() or [])
        return int(h[names[0]]), int(h[names[1]])

    def on_changelog(m):
        v = json.loads(m.value())
        changelog.append(header(m, ("wcoord.source.partition", "wcoord.source.offset"))
                         + (v["_version"], v["result"]))

    def on_deadletter(m):
        v = json.loads(m.value())
        deadletters.append(header(m, ("__connect.errors.partition", "__connect.errors.offset"))
                           + (v["outcome"], v["status"]))

    read_all(ctx.broker, group + ".changelog", on_changelog)
    read_all(ctx.broker, group + ".dlq", on_deadletter)
    results = {}
    for c in changelog:
        results[c[3]] = results.get(c[3], 0) + 1
    return {"changelog": len(changelog), "deadletters": len(deadletters),
            "changelog_by_result": results,
            "digest": digest_of(changelog) + "/" + digest_of(deadletters)}


def run_probe(ctx, topic, outputs, rate, keyed_file, caught_up):
    """bench/latency_probe offering `rate` records/s to `topic`; once it has
    sent everything, caught_up() returns when the contender has committed
    all of it, and the probe reads the outputs to their end."""
    argv = [ctx.latency_probe, "--bootstrap-servers", ctx.broker.bootstrap, "--topic", topic,
            "--input", keyed_file, "--rate", "%.0f" % rate,
            "--seconds", str(ctx.args.latency_seconds),
            "--warmup-seconds", str(ctx.args.warmup_seconds)]
    for out in outputs:
        argv += ["--output", ":".join(out)]
    probe = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        produced = json.loads(probe.stdout.readline() or "{}")
        if produced.get("event") != "produced":
            raise RuntimeError("latency_probe failed (rc=%s)" % probe.wait())
        caught_up()
        probe.stdin.write("finish\n")
        probe.stdin.flush()
        result = json.loads(probe.stdout.readline() or "{}")
        probe.wait(60)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
    if result.get("event") != "result":
        raise RuntimeError("latency_probe gave no result")
    if not result.get("complete"):
        ctx.failures.append("the latency probe did not read every output of %s" % topic)
    result["rate"] = rate
    return result


def kafka_round_trip(ctx, rate, keyed_file):
    """The floor under every latency: the probe reading its own input topic
    back (producer → broker → read_committed consumer, nothing between)."""
    topic = unique("lat-kafka")
    ctx.broker.create_topic(topic, PARTITIONS)
    log("  Kafka round trip: %.0f records/s for %d s" % (rate, ctx.args.latency_seconds))
    return run_probe(ctx, topic, [(topic, "", "")], rate, keyed_file, lambda: None)


def latency(ctx, contender, rate, keyed_file):
    """The contender, caught up, fed at `rate` records/s for a fixed time."""
    topic = unique("lat-" + contender.key)
    ctx.broker.create_topic(topic, PARTITIONS)
    group = unique("lat-" + contender.key)
    state = tempfile.mkdtemp(prefix="lat-", dir=ctx.work)
    contender.prepare(ctx.broker, group)
    proc = contender.start(ctx, topic, group, state, os.path.join(ctx.work, group + ".log"))

    behind = {}

    def caught_up():
        watch = LagWatch(ctx.broker, group, topic, ctx.broker.end_offsets(topic))
        # Not committed when the offering ended: the contender did not keep
        # up with the rate if that is more than a commit interval's worth.
        behind["records"] = watch.total - watch.committed()
        deadline = time.monotonic() + 300
        while watch.committed() < watch.total and time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise RuntimeError("%s exited:\n%s" % (contender.label, proc.tail()))
            time.sleep(0.1)
        watch.close()

    try:
        proc.wait_for(contender.marker, 180)
        log("  %s: %.0f records/s for %d s" % (contender.label, rate, ctx.args.latency_seconds))
        result = run_probe(ctx, topic, contender.outputs(group), rate, keyed_file, caught_up)
        result["behind_s"] = behind.get("records", 0) / rate
        return result
    finally:
        proc.stop()
        shutil.rmtree(state, ignore_errors=True)
        ctx.broker.forget(group)


# --- the run ------------------------------------------------------------------

def contenders_for(args):
    out = [Copy("at_least_once"), Copy("exactly_once"),
           Wcoord("at_least_once"), Wcoord("exactly_once")]
    for g in ("at_least_once", "exactly_once"):
        out += [Streams(g, t) for t in args.streams_threads]
    if args.only:
        keep = set(args.only.split(","))
        # Kafka Streams' keys carry the thread count (streams-t2, streams-eos-t1).
        out = [c for c in out if c.key in keep or c.key.rsplit("-t", 1)[0] in keep]
    return out


def check_decisions(ctx, results):
    """Every deciding contender published what wcoord at_least_once did; a
    copy, one output per input."""
    for key, r in results.items():
        if "copied" in r.get("outputs", {}):
            r["same_decisions"] = r["outputs"]["copied"] == r["records"]
            if not r["same_decisions"]:
                ctx.failures.append("%s copied %d of %d records" % (
                    key, r["outputs"]["copied"], r["records"]))
    ref_key = next((k for k in ("wcoord", "wcoord-eos") if "outputs" in results.get(k, {})),
                   next((k for k, r in results.items() if "changelog" in r.get("outputs", {})),
                        None))
    if ref_key is None:
        return None
    ref = results[ref_key]["outputs"]
    for key, r in results.items():
        o = r.get("outputs", {})
        if "changelog" in o:
            same = (o["changelog"], o["deadletters"], o["digest"]) == (
                ref["changelog"], ref["deadletters"], ref["digest"])
            r["same_decisions"] = same
            if not same:
                ctx.failures.append("%s published other decisions than %s: %s vs %s" % (
                    key, ref_key, {k: o[k] for k in ("changelog", "deadletters", "digest")},
                    {k: ref[k] for k in ("changelog", "deadletters", "digest")}))
    return ref_key


def run_workload(ctx, name, records, contenders, with_latency):
    log("workload %s: %d mutations" % (name, len(records)))
    topic, ends = pre_produce(ctx, records, name.split()[0].replace("/", "-"))
    total = len(records)
    results = {}
    results["raw"] = dict(raw_consume(ctx, topic, total), label="raw consume (kcat)",
                          family="raw", guarantee="", records=total)
    log("  raw consume (kcat): %.0f records/s" % results["raw"]["rate"])
    for c in contenders:
        rounds = []
        for rnd in range(ctx.args.rounds):
            tag = name if ctx.args.rounds == 1 else "%s, round %d" % (name, rnd + 1)
            try:
                r = drain(ctx, c, topic, ends, tag)
            except Exception as e:  # noqa: BLE001 (reported, the run goes on)
                ctx.failures.append("%s on %s: %s" % (c.label, name, e))
                log("  FAILED: %s" % e)
                continue
            r["records"] = total
            rounds.append(r)
            log("  %-44s %9.0f/s  %6.1f CPU s/M  RSS %5.0f MB" % (
                c.label, r["rate"], r["cpu_s_per_m"], r["peak_rss_mb"]))
        if rounds:
            # The median round stands for the contender.
            rounds.sort(key=lambda r: r["rate"])
            results[c.key] = dict(rounds[len(rounds) // 2], label=c.label, family=c.family,
                                  guarantee=c.guarantee,
                                  rounds=[round(r["rate"]) for r in rounds])
    check_decisions(ctx, results)
    if with_latency:
        keyed = os.path.join(ctx.work, "workload-%d.tsv" % total)
        workload.write_keyed(records, keyed)
        floor_rate = max((r["rate"] for r in results.values() if r.get("family") == "wcoord"),
                         default=results["raw"]["rate"] / 10) / 2
        try:
            results["raw"]["latency"] = kafka_round_trip(ctx, floor_rate, keyed)
        except Exception as e:  # noqa: BLE001
            ctx.failures.append("Kafka round trip: %s" % e)
        for c in report.latency_contenders(contenders, results):
            try:
                results[c.key]["latency"] = latency(ctx, c, results[c.key]["rate"] / 2, keyed)
            except Exception as e:  # noqa: BLE001
                ctx.failures.append("latency of %s: %s" % (c.label, e))
                log("  FAILED: %s" % e)
    return {"records": total, "topic": topic, "results": results}


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "memory_mb": mem,
            "kernel": platform.release(), "host": platform.node(),
            "load_at_start": os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--ids", type=int, default=100_000)
    ap.add_argument("--no-distinct", action="store_true",
                    help="skip the second workload (every mutation a new document)")
    ap.add_argument("--quick", action="store_true",
                    help="one workload, no latency runs, Kafka Streams with 2 threads only")
    ap.add_argument("--only", default="",
                    help="contenders to run, comma separated, from: copy, copy-eos, wcoord, "
                         "wcoord-eos, streams, streams-eos (all thread counts), streams-t2, ...")
    ap.add_argument("--rounds", type=int, default=1, help="drains per contender (median reported)")
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--warmup-seconds", type=float, default=3)
    ap.add_argument("--streams-threads", default="1,2",
                    help="stream thread counts tried for Kafka Streams (the best counts)")
    ap.add_argument("--streams-heap", default="512m", help="the baseline's JVM heap (-Xms/-Xmx)")
    ap.add_argument("--commit-interval-ms", type=int, default=1000,
                    help="every contender's commit interval (wcoord's default)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra `wcoord run` setting (repeatable)")
    ap.add_argument("--perf-record", metavar="DIR", default="",
                    help="profile every wcoord drain with `perf record -p` into DIR/KEY-WORKLOAD.data")
    ap.add_argument("--perf-args", default="-e cpu-clock -F 499 --call-graph dwarf,16384",
                    help="perf record options with --perf-record")
    ap.add_argument("--port", default=os.environ.get("KAFKA_PORT", "29292"),
                    help="the broker's port (scripts/kafka; started if not running)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--wcoord", default="", metavar="BINARY",
                    help="run this wcoord instead of BUILD's (compare two builds in turns)")
    ap.add_argument("--out", default=None, help="directory for report.md and report.json "
                    "(default: BUILD/service-bench)")
    args = ap.parse_args()
    args.streams_threads = [int(t) for t in ("2" if args.quick else args.streams_threads).split(",")]
    ctx = Context(args)
    contenders = contenders_for(args)
    started = datetime.datetime.now()
    build(ctx, any(c.family == "streams" for c in contenders))
    ctx.broker.start()
    log("broker %s%s; work files in %s" % (ctx.broker.bootstrap,
                                           " (started for this run)" if ctx.broker.started_here
                                           else "", ctx.work))
    data = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
            "command": " ".join(sys.argv[1:]),
            "settings": {"commit_interval_ms": args.commit_interval_ms, "wcoord_set": args.set,
                         "streams_heap": args.streams_heap,
                         "streams_threads": args.streams_threads,
                         "latency_seconds": args.latency_seconds,
                         "warmup_seconds": args.warmup_seconds, "rounds": args.rounds},
            "workloads": {}}
    try:
        name = "%s over %s ids" % (report.short(args.records), report.short(args.ids))
        data["workloads"][name] = run_workload(
            ctx, name, workload.lines(args.records, args.ids), contenders, not args.quick)
        if not args.quick and not args.no_distinct:
            name = "%s distinct ids" % report.short(args.records)
            distinct = contenders + [Wcoord("at_least_once", ["passivation.active.entity.limit=10000"],
                                            key="wcoord-10k",
                                            label="wcoord run, at_least_once, 10k live actors")]
            if args.only:
                distinct = [c for c in distinct
                            if c.key != "wcoord-10k" or "wcoord" in args.only.split(",")]
            data["workloads"][name] = run_workload(
                ctx, name, workload.lines(args.records, args.records, distinct=True), distinct, False)
    finally:
        ctx.broker.stop()
    data["seconds"] = (datetime.datetime.now() - started).total_seconds()
    data["failures"] = ctx.failures
    data["goals"] = report.goals(data)
    md = report.markdown(data)
    out = args.out or os.path.join(ctx.build, "service-bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    print(md)
    log("report: %s/report.md and report.json; contender logs in %s" % (out, ctx.work))
    sys.exit(1 if ctx.failures else 0)


if __name__ == "__main__":
    main()

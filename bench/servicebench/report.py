"""The run's figures as ratios (Markdown and goal verdicts); the JSON is
the driver's data as is."""

NAN = float("nan")


def short(n):
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10) == 0:
            return ("%g" % (n / div)) + unit
    return str(n)


def best(results, family, guarantee):
    """The best configuration of a family (Kafka Streams: 1 or 2 threads)."""
    rows = [r for r in results.values()
            if r.get("family") == family and r.get("guarantee") == guarantee and "rate" in r]
    return max(rows, key=lambda r: r["rate"]) if rows else None


def latency_contenders(contenders, results):
    """Who gets a latency run: everyone measured, Kafka Streams in its best
    configuration only."""
    out = []
    for c in contenders:
        r = results.get(c.key)
        if r is None:
            continue
        if c.family == "streams" and best(results, "streams", c.guarantee) is not r:
            continue
        out.append(c)
    return out


def ratio(a, b):
    return a / b if a is not None and b else NAN


def _get(r, *path):
    for p in path:
        if not isinstance(r, dict) or p not in r:
            return None
        r = r[p]
    return r


def _fmt(v, spec="%.2f"):
    return "–" if v is None or v != v else spec % v


def markdown(data):
    m = data["machine"]
    lines = ["## Service benchmark, %s" % data["date"][:10], "",
             "`bench/service_bench.py %s` on %s: %d cores (%s), %d MB, kernel %s; load average "
             "%.1f at the start. %.0f minutes." % (
                 data["command"], m["host"], m["cores"], m["cpu"], m["memory_mb"], m["kernel"],
                 m["load_at_start"][0], data["seconds"] / 60), ""]
    for name, w in data["workloads"].items():
        res = w["results"]
        raw = _get(res, "raw", "rate")
        ref = next((r for r in res.values() if "changelog" in r.get("outputs", {})), None)
        lines.append("### %s (%d mutations%s)" % (name, w["records"], (
            "; %d changelog records, %d dead letters" % (ref["outputs"]["changelog"],
                                                        ref["outputs"]["deadletters"])
            if ref else "")))
        lines.append("")
        lines.append("| contender | records/s | × raw | × copy | × Streams | CPU s/M | broker "
                     "CPU s/M | × Streams CPU | peak RSS MB | p50 / p99 / p99.9 ms | at /s | "
                     "others' cores | outputs |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for key, r in res.items():
            g = r.get("guarantee")
            copy = best(res, "copy", g) if g else None
            ks = best(res, "streams", g) if g else None
            lat = r.get("latency")
            lat_txt = ("%s / %s / %s" % (_fmt(lat["p50_ms"], "%.0f"), _fmt(lat["p99_ms"], "%.0f"),
                                         _fmt(lat["p999_ms"], "%.0f")) if lat else "")
            if lat and lat.get("behind_s", 0) > data["settings"]["commit_interval_ms"] / 1000 + 1:
                lat_txt += " (%.0f s behind)" % lat["behind_s"]
            outputs = ""
            if "same_decisions" in r:
                o = r["outputs"]
                outputs = ("copied %d" % o["copied"]) if "copied" in o else (
                    ("same" if r["same_decisions"] else "**DIFFER**")
                    + " (%d + %d)" % (o["changelog"], o["deadletters"]))
            rounds = r.get("rounds", [])
            lines.append("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r.get("label", key), _fmt(r["rate"], "%.0f"),
                (" (%s)" % ", ".join(str(x) for x in rounds)) if len(rounds) > 1 else "",
                _fmt(ratio(r["rate"], raw)),
                _fmt(ratio(r["rate"], copy and copy["rate"])) if r.get("family") != "copy" else "",
                _fmt(ratio(r["rate"], ks and ks["rate"])) if r.get("family") != "streams" else "",
                _fmt(r.get("cpu_s_per_m"), "%.1f"), _fmt(r.get("broker_cpu_s_per_m"), "%.1f"),
                _fmt(ratio(r.get("cpu_s_per_m"), ks and ks["cpu_s_per_m"]))
                if r.get("family") not in ("streams", "raw") else "",
                _fmt(r.get("peak_rss_mb"), "%.0f"), lat_txt,
                _fmt(lat and lat.get("offered"), "%.0f") if lat else "",
                _fmt(r.get("others_cores"), "%.2f"), outputs))
        lines.append("")
    lines += [
        "*records/s*: the backlog drained, from the partitions' assignment to the group's last "
        "commit; *× raw / × copy / × Streams*: against kcat reading the topic, the copy ceiling "
        "of the same guarantee, the best Kafka Streams configuration of the same guarantee; "
        "*CPU s/M*: CPU seconds of the contender's process per million mutations, and of the "
        "broker's; *p50 / p99 / p99.9*: produce call → output visible to a read_committed "
        "consumer, at *at /s*, half the contender's drain rate (the raw row: Kafka's own round "
        "trip, the probe reading its input back; *behind*: the contender did not keep up, and "
        "this many seconds of input were not committed when the offering ended); *others' cores*: CPU other processes on the "
        "machine used meanwhile (noise); *outputs*: the same decisions as wcoord "
        "at_least_once (count and digest of changelog records + dead letters).", ""]
    lines += ["### Goals (issue 10)", "", "| goal | measured | target | |", "|---|---:|---:|---|"]
    for g in data["goals"]:
        lines.append("| %s | %s | %s | %s |" % (g["goal"], _fmt(g["value"], g.get("fmt", "%.2f")),
                                                g["target"], "met" if g["met"] else "**not met**"))
    lines.append("")
    if data["failures"]:
        lines += ["### Failures", ""] + ["* " + f for f in data["failures"]] + [""]
    return "\n".join(lines)


def goals(data):
    """The issue's goals, from the first workload (and the per-actor memory
    from the distinct-id one)."""
    out = []

    def add(goal, value, target, met, fmt="%.2f"):
        if value is not None and value == value:
            out.append({"goal": goal, "value": value, "target": target, "met": bool(met),
                        "fmt": fmt})

    names = list(data["workloads"])
    if not names:
        return out
    res = data["workloads"][names[0]]["results"]
    alo, eos = res.get("wcoord"), res.get("wcoord-eos")
    ks_alo, ks_eos = best(res, "streams", "at_least_once"), best(res, "streams", "exactly_once")
    copy = best(res, "copy", "at_least_once")
    if alo and ks_alo:
        v = alo["rate"] / ks_alo["rate"]
        add("at_least_once throughput / Kafka Streams", v, "≥ 3", v >= 3)
        v = alo["cpu_s_per_m"] / ks_alo["cpu_s_per_m"]
        add("CPU per mutation / Kafka Streams (at_least_once)", v, "≤ 0.33", v <= 1 / 3)
    if eos and ks_eos:
        v = eos["rate"] / ks_eos["rate"]
        add("exactly_once throughput / Kafka Streams", v, "(reported)", True)
    if alo and copy:
        v = alo["rate"] / copy["rate"]
        add("at_least_once throughput / copy ceiling", v, "≥ 0.50", v >= 0.5)
    if alo and eos:
        v = eos["rate"] / alo["rate"]
        add("exactly_once / at_least_once throughput", v, "≥ 0.80", v >= 0.8)
    interval = data["settings"]["commit_interval_ms"]
    if alo and "latency" in alo:
        v = alo["latency"]["p99_ms"]
        add("p99 end to end, at_least_once (ms)", v, "≤ 25", v <= 25, "%.0f")
    if eos and "latency" in eos:
        v = eos["latency"]["p99_ms"]
        add("p99 end to end, exactly_once (ms)", v, "≤ %d" % (interval + 25), v <= interval + 25,
            "%.0f")
    for key, r in (("at_least_once", alo), ("exactly_once", eos)):
        if r:
            add("peak RSS, %s (MB)" % key, r["peak_rss_mb"], "≤ 300", r["peak_rss_mb"] <= 300,
                "%.0f")
    if len(names) > 1:
        d = data["workloads"][names[1]]["results"]
        if "wcoord" in d and "wcoord-10k" in d:
            v = (d["wcoord"]["peak_rss_mb"] - d["wcoord-10k"]["peak_rss_mb"]) * 1024 / 90000
            add("memory per live document actor (KiB; 100k vs 10k live)", v, "≤ 2", v <= 2,
                "%.2f")
    return out

#!/usr/bin/env python3
"""Checks of the deployment files, run by scripts/check-deploy after it has
rendered the Helm chart (one file per scenario in --rendered).

  * every rendered built-in object validates (strict) against the Kubernetes
    OpenAPI schemas of each --kube-version (kubernetes-validate);
  * custom resources without a schema there (ServiceMonitor, PrometheusRule,
    ScaledObject, TriggerAuthentication) get a structural check: apiVersion,
    kind, metadata, spec keys, and the references between objects;
  * the chart keeps wcoord's deployment contract: config keys wcoord knows,
    no credentials in the ConfigMap, RocksDB bounds inside the memory limit,
    grace period above shutdown.timeout, read-only root, non-root, probes;
  * the HTTP surface: probes on the metrics port, document reads only when
    enabled and on their own port (never behind the metrics Service), their
    token from a Secret mount; the NetworkPolicy selects the pods, restricts
    ingress only, and never opens the document port to every source;
  * every metric that an alert, recording rule or dashboard panel queries is in
    deploy/metrics.txt, with rate()/increase() only over counters and
    deriv()/delta() only over gauges;
  * the dashboard JSON parses, its panels are complete and the chart's copy is
    identical to deploy/grafana/wcoord-dashboard.json;
  * deploy/Dockerfile has the required structure, its runtime packages exist in
    Debian 12, and (when a built binary is there) they provide every shared
    library the binary links.

Exit status 1 with one line per problem; warnings do not fail.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import kubernetes_validate
    from kubernetes_validate import utils as kv_utils
except ImportError:  # pragma: no cover - the script installs it
    kubernetes_validate = None

ERRORS: list[str] = []
WARNINGS: list[str] = []


def error(where: str, msg: str) -> None:
    ERRORS.append(f"{where}: {msg}")


def warn(where: str, msg: str) -> None:
    WARNINGS.append(f"{where}: {msg}")


# --------------------------------------------------------------------------
# Scenarios rendered by scripts/check-deploy and the kinds each must contain.
BASE_KINDS = {"ConfigMap", "Service", "StatefulSet", "ServiceAccount", "PodDisruptionBudget"}
SCENARIOS = {
    "default": {"kinds": BASE_KINDS | {"NetworkPolicy"}, "sasl": False},
    "all-on": {"kinds": BASE_KINDS | {"ServiceMonitor", "PrometheusRule", "ScaledObject",
                                      "TriggerAuthentication", "NetworkPolicy"},
               "sasl": True, "dashboard": True},
    "variant": {"kinds": {"ConfigMap", "Service", "StatefulSet", "ScaledObject"}, "sasl": False},
}
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}
# Top-level spec fields of the CRDs (Prometheus Operator v0.7x, KEDA 2.x) that the chart may use.
CRD_SPEC_KEYS = {
    "ServiceMonitor": {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels",
                       "podTargetLabels", "sampleLimit", "attachMetadata"},
    "PrometheusRule": {"groups"},
    "ScaledObject": {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "idleReplicaCount",
                     "minReplicaCount", "maxReplicaCount", "advanced", "triggers", "fallback",
                     "initialCooldownPeriod"},
    "TriggerAuthentication": {"secretTargetRef", "env", "hashiCorpVault", "azureKeyVault",
                              "podIdentity", "configMapTargetRef", "awsSecretManager",
                              "gcpSecretManager", "boundServiceAccountToken"},
}
SM_ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "params",
                    "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings",
                    "tlsConfig", "bearerTokenSecret", "basicAuth", "authorization", "oauth2",
                    "followRedirects", "enableHttp2", "filterRunning", "proxyUrl", "trackTimestampsStaleness"}
KEDA_KAFKA_METADATA = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                       "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
                       "scaleToZeroOnInvalidOffset", "excludePersistentLag", "version",
                       "partitionLimitation", "sasl", "tls", "unsafeSsl",
                       "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions"}
KEDA_AUTH_PARAMS = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword",
                    "oauthTokenEndpointUri", "scopes", "extensions", "unsafeSsl"}

STATE_DIR = "/var/lib/wcoord"
CONFIG_PATH = "/etc/wcoord/wcoord.properties"
# Keys the chart renders itself; the rest of wcoord's keys are user values.
CHART_OWNED = {"bootstrap.servers", "group.id", "topics", "topics.regex", "state.dir", "http.listen",
               "http.threads", "http.request.timeout", "http.docs.enabled", "http.docs.listen",
               "http.docs.token.file", "log.format", "log.level", "shutdown.timeout",
               "store.block.cache.bytes", "store.write.buffer.bytes", "group.instance.id"}
# wcoord keys the chart deliberately does not offer (embedded demo cluster only).
NOT_OFFERED = {"embedded.partitions"}
SECRET_MARKERS = ("password", "secret", "jaas", "key.pem", "ssl.key", "token", "credential")

DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --------------------------------------------------------------------------
# Helpers

def quantity_bytes(q) -> int:
    s = str(q).strip()
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)", s)
    mult = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    if not m or m.group(2) not in mult:
        raise ValueError(f"cannot read quantity {s!r}")
    return int(float(m.group(1)) * mult[m.group(2)])


def duration_seconds(d: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for num, unit in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", d):
        total += int(num) * units[unit]
    return total


def parse_properties(text: str, where: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        if "=" not in line:
            error(where, f"line {n}: expected key=value, got {line!r}")
            continue
        k, v = line.split("=", 1)
        k, v = k.strip(), v.strip()
        if k in props:
            error(where, f"line {n}: key {k} set twice")
        props[k] = v
    return props


def service_config_keys(repo: Path) -> set[str] | None:
    """The keys wcoord accepts, read from the options table in app/service_config.cpp."""
    src = repo / "app" / "service_config.cpp"
    if not src.exists():
        return None
    text = src.read_text()
    start = text.find("options()")
    end = text.find("return all;", start)
    if start < 0 or end < 0:
        return None
    body = text[start:end]
    keys = set(re.findall(r'_opt\(\s*"([a-z][a-z0-9_.]*)"', body))
    # Entries written out in full: {"key", "default", "help", [](service_config& ...
    # (the help may be adjacent literals spanning lines, which C++ joins).
    keys |= set(re.findall(
        r'\{\s*"([a-z][a-z0-9_.]*)"\s*,\s*"[^"]*"\s*,\s*(?:"[^"]*"\s*)+,\s*\[\]\(', body))
    return keys or None


def load_metrics(path: Path) -> dict[str, str]:
    types: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        name = parts[0]
        typ = parts[1] if len(parts) > 1 else "untyped"
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            error(str(path), f"line {n}: {name!r} is not a metric name")
        if typ not in ("counter", "gauge", "histogram", "summary", "untyped"):
            error(str(path), f"line {n}: unknown type {typ!r}")
        if typ == "counter" and not name.endswith("_total"):
            warn(str(path), f"counter {name} does not end in _total")
        types[name] = typ
    return types


def expand_series(types: dict[str, str]) -> dict[str, str]:
    """Series names as PromQL sees them, with the type of what they hold."""
    out = {"up": "gauge"}  # written by Prometheus for every target
    for name, typ in types.items():
        if typ in ("histogram", "summary"):
            out[name + "_bucket"] = "counter" if typ == "histogram" else "gauge"
            out[name + "_sum"] = "counter"
            out[name + "_count"] = "counter"
            if typ == "summary":
                out[name] = "gauge"
        else:
            out[name] = typ
    return out


# --------------------------------------------------------------------------
# PromQL

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                   "or", "unless", "offset", "inf", "nan", "atan2", "start", "end", "le"}
COUNTER_FUNCS = ("rate", "irate", "increase", "resets")
GAUGE_FUNCS = ("deriv", "delta", "idelta", "predict_linear", "holt_winters",
               "double_exponential_smoothing")


def promql_strip(expr: str) -> str:
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"#[^\n]*", " ", s)
    s = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?", "1m", s)  # Grafana variables
    s = re.sub(r"\[\[[^\]]*\]\]", " ", s)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    s = re.sub(r"\b[0-9]+(ms|s|m|h|d|w|y)\b", " ", s)
    s = re.sub(r"\b[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\b", " ", s)
    return s


def promql_check(expr: str, series: dict[str, str], where: str) -> set[str]:
    """Returns the metric names used; records problems."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    clean = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for ch in clean:
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in pairs.values():
            if not stack or stack.pop() != ch:
                error(where, f"unbalanced brackets in {expr.strip()!r}")
                return set()
    if stack:
        error(where, f"unbalanced brackets in {expr.strip()!r}")
        return set()
    s = promql_strip(expr)
    used: set[str] = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        tok = m.group(0)
        if s[m.end():].lstrip().startswith("("):
            continue  # a function or aggregation
        if tok in PROMQL_KEYWORDS:
            continue
        used.add(tok)
        if tok not in series:
            error(where, f"queries {tok}, which is not in deploy/metrics.txt "
                         f"(nor a histogram's _bucket/_sum/_count, `up` or a recording rule)")
    for m in re.finditer(r"\b(" + "|".join(COUNTER_FUNCS) + r")\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", s):
        fn, name = m.groups()
        if series.get(name) not in ("counter", None):
            error(where, f"{fn}() over {name}, a {series[name]}: {fn}() needs a counter")
    for m in re.finditer(r"\b(" + "|".join(GAUGE_FUNCS) + r")\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", s):
        fn, name = m.groups()
        if series.get(name) == "counter":
            error(where, f"{fn}() over the counter {name}: use rate()/increase()")
    if "histogram_quantile" in expr:
        if not any(n.endswith("_bucket") for n in used):
            error(where, "histogram_quantile() without a _bucket series")
        if not re.search(r"\bby\s*\([^)]*\ble\b", expr):
            error(where, "histogram_quantile() must aggregate `by (le)`")
    return used


# --------------------------------------------------------------------------
# Rendered manifests

def pod_labels(sts: dict) -> dict:
    return sts["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_k8s_schema(doc: dict, where: str, versions: list[str]) -> None:
    if kubernetes_validate is None:
        error(where, "kubernetes-validate is not importable")
        return
    key = (doc.get("apiVersion"), doc.get("kind"))
    for v in versions:
        try:
            kv_utils.validate(doc, v, strict=True)
        except kv_utils.SchemaNotFoundError:
            if key not in CRD_KINDS:
                error(where, f"no Kubernetes {v} schema for {key[0]} {key[1]}")
            return
        except kv_utils.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            error(where, f"Kubernetes {v} schema: {path}: {e.message}")
        except kv_utils.VersionNotSupportedError:
            error(where, f"kubernetes-validate does not support Kubernetes {v}")
            return


def check_crd_common(doc: dict, where: str) -> None:
    kind = doc["kind"]
    if (doc.get("apiVersion"), kind) not in CRD_KINDS:
        error(where, f"unexpected apiVersion {doc.get('apiVersion')} for {kind}")
    md = doc.get("metadata") or {}
    if not md.get("name") or not DNS1123.match(md["name"]) or len(md["name"]) > 63:
        error(where, f"metadata.name {md.get('name')!r} is not a DNS-1123 label")
    if not md.get("namespace"):
        error(where, "metadata.namespace missing")
    if set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
        error(where, f"unexpected top-level keys {sorted(set(doc) - {'apiVersion', 'kind', 'metadata', 'spec'})}")
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not spec:
        error(where, "spec missing")
        return
    extra = set(spec) - CRD_SPEC_KEYS[kind]
    if extra:
        error(where, f"unknown spec keys {sorted(extra)}")


def check_scenario(name: str, docs: list[dict], ctx: dict) -> None:
    exp = SCENARIOS.get(name, {"kinds": BASE_KINDS, "sasl": False})
    where0 = f"render[{name}]"
    kinds = {d["kind"] for d in docs}
    missing = exp["kinds"] - kinds
    if missing:
        error(where0, f"expected kinds missing: {sorted(missing)}")
    unexpected = kinds - exp["kinds"]
    if unexpected:
        error(where0, f"unexpected kinds rendered: {sorted(unexpected)}")
    by_kind: dict[str, list[dict]] = {}
    seen = set()
    for d in docs:
        w = f"{where0} {d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        ident = (d.get("kind"), (d.get("metadata") or {}).get("name"))
        if ident in seen:
            error(w, "rendered twice")
        seen.add(ident)
        by_kind.setdefault(d["kind"], []).append(d)
        check_k8s_schema(d, w, ctx["kube_versions"])
        if (d.get("apiVersion"), d.get("kind")) in CRD_KINDS:
            check_crd_common(d, w)

    stss = by_kind.get("StatefulSet", [])
    if len(stss) != 1:
        error(where0, f"expected one StatefulSet, got {len(stss)}")
        return
    sts = stss[0]
    w = f"{where0} StatefulSet/{sts['metadata']['name']}"
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = pod_labels(sts)
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}

    # Governing headless Service.
    gov = services.get(spec.get("serviceName"))
    if not gov or gov["spec"].get("clusterIP") != "None":
        error(w, f"serviceName {spec.get('serviceName')!r} is not a headless Service of the release")
    for s in services.values():
        if not selects(s["spec"].get("selector"), labels):
            error(w, f"Service {s['metadata']['name']} does not select the pods")
        if not s["spec"].get("publishNotReadyAddresses"):
            error(w, f"Service {s['metadata']['name']} hides not-ready pods (restoring pods must stay visible)")

    if pod.get("enableServiceLinks") is not False:
        error(w, "enableServiceLinks must be false: Kubernetes' <SERVICE>_PORT variables would reach "
                 "wcoord as WCOORD_* configuration keys and stop it")
    if pod.get("automountServiceAccountToken") is not False:
        error(w, "automountServiceAccountToken must be false (wcoord never calls the API)")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") in (None, 0):
        error(w, "pod securityContext must run as non-root with a numeric user")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        error(w, "pod seccompProfile must be RuntimeDefault")
    if psc.get("fsGroup") is None:
        error(w, "pod fsGroup missing: the state volume would not be writable")

    containers = pod.get("containers") or []
    if len(containers) != 1:
        error(w, "expected one container")
        return
    c = containers[0]
    csc = c.get("securityContext") or {}
    if csc.get("readOnlyRootFilesystem") is not True:
        error(w, "readOnlyRootFilesystem must be true")
    if csc.get("allowPrivilegeEscalation") is not False:
        error(w, "allowPrivilegeEscalation must be false")
    if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
        error(w, "capabilities must drop ALL")
    if (csc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        error(w, "container seccompProfile must be RuntimeDefault")
    if c.get("args") != ["run", "--config", CONFIG_PATH]:
        error(w, f"container args {c.get('args')} are not `run --config {CONFIG_PATH}`")

    # Volumes: config from the ConfigMap, /tmp emptyDir, state volume.
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
    cfg_vol = vols.get(mounts.get(os.path.dirname(CONFIG_PATH)), {})
    cm_name = (cfg_vol.get("configMap") or {}).get("name")
    if cm_name not in configmaps:
        error(w, f"{os.path.dirname(CONFIG_PATH)} is not mounted from a ConfigMap of the release")
    if "emptyDir" not in vols.get(mounts.get("/tmp"), {}):
        error(w, "/tmp must be an emptyDir (read-only root filesystem)")
    state_vol = mounts.get(STATE_DIR)
    if state_vol is None:
        error(w, f"{STATE_DIR} is not mounted")
    elif state_vol not in claims and "emptyDir" not in vols.get(state_vol, {}):
        error(w, f"{STATE_DIR} is neither a volumeClaimTemplate nor an emptyDir")
    elif ctx["scenario_persistent"].get(name, True) and state_vol not in claims:
        error(w, f"{STATE_DIR} must come from volumeClaimTemplates")

    # Environment: group.instance.id from the pod name, SASL from a Secret.
    env = {e["name"]: e for e in c.get("env", [])}
    gi = env.get("WCOORD_GROUP_INSTANCE_ID", {})
    if ((gi.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") != "metadata.name":
        error(w, "WCOORD_GROUP_INSTANCE_ID must come from fieldRef metadata.name (static membership)")
    valid_keys = ctx["service_keys"]
    for n in env:
        if n.startswith("WCOORD_") and valid_keys is not None:
            key = n[len("WCOORD_"):].lower().replace("_", ".")
            if key not in valid_keys and not key.startswith("kafka.") and key != "home":
                error(w, f"env {n} maps to unknown wcoord key {key}; wcoord would stop at start")
    sasl_secrets = set()
    for n in ("WCOORD_KAFKA_SASL_USERNAME", "WCOORD_KAFKA_SASL_PASSWORD"):
        if exp["sasl"]:
            ref = ((env.get(n) or {}).get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                error(w, f"{n} must come from a secretKeyRef")
            else:
                sasl_secrets.add(ref["name"])
        elif n in env:
            error(w, f"{n} set without kafka.sasl.existingSecret")

    # Probes.
    def probe(kind):
        p = c.get(kind) or {}
        return ((p.get("httpGet") or {}).get("path"), p)
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                       ("startupProbe", "/healthz")):
        got, p = probe(kind)
        if got != path:
            error(w, f"{kind} must GET {path}, got {got}")
    _, sp = probe("startupProbe")
    budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
    if budget < 300:
        error(w, f"startupProbe allows only {budget}s; restoring a store needs minutes")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}

    # The properties file.
    cm = configmaps.get(cm_name) or {}
    text = (cm.get("data") or {}).get(os.path.basename(CONFIG_PATH))
    if text is None:
        error(w, f"ConfigMap {cm_name} has no {os.path.basename(CONFIG_PATH)}")
        return
    pw = f"{where0} ConfigMap/{cm_name}"
    props = parse_properties(text, pw)
    for k, v in props.items():
        if valid_keys is not None and k not in valid_keys and not k.startswith("kafka."):
            error(pw, f"unknown wcoord key {k}; wcoord would stop at start")
        # A *.file key names a mounted file (http.docs.token.file), not the credential.
        if any(m in k.lower() for m in SECRET_MARKERS) and not k.endswith(".file"):
            error(pw, f"{k} is a credential; it belongs in a Secret")
    for k in ("bootstrap.servers", "group.id", "state.dir", "http.listen", "shutdown.timeout",
              "store.block.cache.bytes", "store.write.buffer.bytes"):
        if k not in props:
            error(pw, f"{k} missing")
    if "topics" not in props and "topics.regex" not in props:
        error(pw, "neither topics nor topics.regex set")
    if props.get("state.dir") != STATE_DIR:
        error(pw, f"state.dir must be {STATE_DIR} (the mounted volume)")
    listen_port = props.get("http.listen", ":").rsplit(":", 1)[-1]
    if str(ports.get("http")) != listen_port:
        error(w, f"container port http={ports.get('http')} differs from http.listen port {listen_port}")
    try:
        shutdown = duration_seconds(props["shutdown.timeout"])
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= shutdown:
            error(w, f"terminationGracePeriodSeconds {grace} must exceed shutdown.timeout {shutdown:g}s")
    except KeyError:
        pass
    limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
    if limit is None:
        error(w, "no memory limit")
    elif "store.block.cache.bytes" in props and "store.write.buffer.bytes" in props:
        lim = quantity_bytes(limit)
        rocks = int(props["store.block.cache.bytes"]) + int(props["store.write.buffer.bytes"])
        if rocks >= lim * 0.9:
            error(pw, f"RocksDB bounds {rocks} bytes leave no room in the memory limit {limit}")
        if rocks < 64 * 2**20:
            error(pw, f"RocksDB bounds {rocks} bytes are implausibly small")

    check_http_surface(where0, w, c, pod, props, ports, labels, services,
                       by_kind.get("NetworkPolicy", []))

    # PodDisruptionBudget.
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selects(pdb["spec"].get("selector", {}).get("matchLabels"), labels):
            error(f"{where0} PodDisruptionBudget", "selector does not match the pods")

    # ServiceMonitor -> metrics Service.
    metrics_service = None
    for sm in by_kind.get("ServiceMonitor", []):
        sw = f"{where0} ServiceMonitor/{sm['metadata']['name']}"
        sel = (sm["spec"].get("selector") or {}).get("matchLabels") or {}
        targets = [s for s in services.values() if selects(sel, s["metadata"].get("labels", {}))]
        if len(targets) != 1:
            error(sw, f"selects {len(targets)} Services; must select exactly the metrics Service")
            continue
        metrics_service = targets[0]
        if metrics_service["spec"].get("clusterIP") == "None":
            error(sw, "selects the headless Service")
        port_names = {p.get("name") for p in metrics_service["spec"].get("ports", [])}
        eps = sm["spec"].get("endpoints") or []
        if not eps:
            error(sw, "no endpoints")
        for ep in eps:
            if set(ep) - SM_ENDPOINT_KEYS:
                error(sw, f"unknown endpoint keys {sorted(set(ep) - SM_ENDPOINT_KEYS)}")
            if ep.get("port") not in port_names:
                error(sw, f"endpoint port {ep.get('port')!r} is not a port of {metrics_service['metadata']['name']}")
            if ep.get("path", "/metrics") != "/metrics":
                error(sw, "endpoint path must be /metrics")
            for k in ("interval", "scrapeTimeout"):
                if k in ep and not DURATION.match(str(ep[k])):
                    error(sw, f"{k} {ep[k]!r} is not a duration")

    # PrometheusRule.
    for pr in by_kind.get("PrometheusRule", []):
        check_prometheus_rule(pr, f"{where0} PrometheusRule/{pr['metadata']['name']}", ctx,
                              metrics_service)

    # KEDA.
    auths = {a["metadata"]["name"]: a for a in by_kind.get("TriggerAuthentication", [])}
    for a in auths.values():
        aw = f"{where0} TriggerAuthentication/{a['metadata']['name']}"
        refs = a["spec"].get("secretTargetRef") or []
        if not refs:
            error(aw, "no secretTargetRef")
        for r in refs:
            if set(r) != {"parameter", "name", "key"}:
                error(aw, f"secretTargetRef entry {r} must have exactly parameter, name, key")
            if r.get("parameter") not in KEDA_AUTH_PARAMS:
                error(aw, f"unknown Kafka scaler parameter {r.get('parameter')!r}")
            if sasl_secrets and r.get("name") not in sasl_secrets:
                error(aw, f"reads Secret {r.get('name')}, wcoord reads {sorted(sasl_secrets)}")
    for so in by_kind.get("ScaledObject", []):
        ow = f"{where0} ScaledObject/{so['metadata']['name']}"
        s = so["spec"]
        ref = s.get("scaleTargetRef") or {}
        if ref.get("kind") != "StatefulSet" or ref.get("name") != sts["metadata"]["name"] \
                or ref.get("apiVersion") != "apps/v1":
            error(ow, "scaleTargetRef must be the release's StatefulSet (apps/v1)")
        if "replicas" in spec:
            error(w, "replicas must be omitted while KEDA scales the StatefulSet")
        for k in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
            if k in s and not isinstance(s[k], int):
                error(ow, f"{k} must be an integer")
        if s.get("minReplicaCount", 0) > s.get("maxReplicaCount", 100):
            error(ow, "minReplicaCount exceeds maxReplicaCount")
        behavior = (((s.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {})
                    .get("behavior") or {})
        if set(behavior) - {"scaleUp", "scaleDown"}:
            error(ow, f"unknown HPA behavior keys {sorted(set(behavior) - {'scaleUp', 'scaleDown'})}")
        trig = s.get("triggers") or []
        if len(trig) != 1 or trig[0].get("type") != "kafka":
            error(ow, "expected one kafka trigger")
            continue
        md = trig[0].get("metadata") or {}
        for k, v in md.items():
            if not isinstance(v, str):
                error(ow, f"trigger metadata {k} must be a string, got {type(v).__name__}")
        if set(md) - KEDA_KAFKA_METADATA:
            error(ow, f"unknown kafka trigger metadata {sorted(set(md) - KEDA_KAFKA_METADATA)}")
        for k in ("bootstrapServers", "consumerGroup", "lagThreshold"):
            if not md.get(k):
                error(ow, f"trigger metadata {k} missing")
        if md.get("consumerGroup") != props.get("group.id"):
            error(ow, f"consumerGroup {md.get('consumerGroup')} differs from group.id {props.get('group.id')}")
        if md.get("bootstrapServers") != props.get("bootstrap.servers"):
            error(ow, "bootstrapServers differs from wcoord's bootstrap.servers")
        if "topic" in md and md["topic"] not in props.get("topics", "").split(","):
            error(ow, f"topic {md['topic']} is not one of wcoord's topics")
        if md.get("allowIdleConsumers", "false") != "false":
            warn(ow, "allowIdleConsumers is true: KEDA may scale beyond the partition count")
        if md.get("sasl") not in (None, "none") and "authenticationRef" not in trig[0]:
            error(ow, "sasl set but no authenticationRef")
        aref = (trig[0].get("authenticationRef") or {}).get("name")
        if aref and aref not in auths:
            error(ow, f"authenticationRef {aref} is not rendered")

    # Grafana dashboard ConfigMap.
    dash_cms = [cmap for cmap in configmaps.values() if cmap["metadata"]["name"] != cm_name]
    if exp.get("dashboard"):
        if len(dash_cms) != 1:
            error(where0, "expected one dashboard ConfigMap")
        for cmap in dash_cms:
            dw = f"{where0} ConfigMap/{cmap['metadata']['name']}"
            if cmap["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
                error(dw, 'label grafana_dashboard: "1" missing')
            data = cmap.get("data") or {}
            if list(data) != ["wcoord-dashboard.json"]:
                error(dw, f"data keys {list(data)}")
            elif json.loads(data["wcoord-dashboard.json"]) != ctx["dashboard"]:
                error(dw, "dashboard differs from deploy/grafana/wcoord-dashboard.json")
    elif dash_cms:
        error(where0, "dashboard ConfigMap rendered although disabled")


def check_http_surface(where0: str, w: str, c: dict, pod: dict, props: dict, ports: dict,
                       labels: dict, services: dict, policies: list[dict]) -> None:
    """Metrics and probes apart from document reads (issue 8): document reads
    only when enabled, on their own port, never behind the metrics Service,
    their token from a Secret; the NetworkPolicy selects the pods, leaves egress
    alone, opens the metrics/probe port and the document port only to named peers."""
    docs_on = props.get("http.docs.enabled") == "true"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        port = ((c.get(kind) or {}).get("httpGet") or {}).get("port")
        if port not in ("http", ports.get("http")):
            error(w, f"{kind} must use the metrics/probe port http, got {port!r}")
    if docs_on:
        docs_port = props.get("http.docs.listen", ":").rsplit(":", 1)[-1]
        if "docs" not in ports:
            error(w, "http.docs.enabled without a container port named docs")
        elif str(ports["docs"]) != docs_port:
            error(w, f"container port docs={ports['docs']} differs from http.docs.listen port {docs_port}")
        if ports.get("docs") == ports.get("http"):
            error(w, "document reads must not share the metrics/probe port")
    else:
        if "docs" in ports:
            error(w, "container port docs while document reads are off")
        for k in ("http.docs.listen", "http.docs.token.file"):
            if k in props:
                error(w, f"{k} set while http.docs.enabled is not true (wcoord refuses that)")
    token = props.get("http.docs.token.file")
    if token:
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        m = mounts.get(os.path.dirname(token))
        vol = vols.get((m or {}).get("name"), {})
        if not m or "secret" not in vol:
            error(w, f"http.docs.token.file {token}: its directory is not a Secret volume mount")
        else:
            if m.get("subPath"):
                error(w, "the token Secret is mounted with subPath: a rotated Secret would never arrive")
            if not m.get("readOnly"):
                error(w, "the token Secret must be mounted readOnly")
            items = {i.get("path") for i in vol["secret"].get("items") or []}
            if items and os.path.basename(token) not in items:
                error(w, f"the token Secret volume has no item {os.path.basename(token)}")
    for s in services.values():
        if (s["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != "metrics":
            continue
        for p in s["spec"].get("ports", []):
            if p.get("targetPort") in ("docs", ports.get("docs")) and ports.get("docs"):
                error(f"{where0} Service/{s['metadata']['name']}",
                      "the metrics Service exposes the document port")

    for np in policies:
        nw = f"{where0} NetworkPolicy/{np['metadata']['name']}"
        spec = np.get("spec") or {}
        if not selects((spec.get("podSelector") or {}).get("matchLabels"), labels) \
                or not (spec.get("podSelector") or {}).get("matchLabels"):
            error(nw, "podSelector does not select the release's pods")
        if spec.get("policyTypes") != ["Ingress"]:
            error(nw, f"policyTypes {spec.get('policyTypes')}: Ingress only (egress to Kafka and DNS stays open)")
        metrics_open = False
        for n, rule in enumerate(spec.get("ingress") or []):
            rports = rule.get("ports") or []
            if not rports:
                error(nw, f"ingress rule {n} names no port: it would open every port")
            for p in rports:
                if p.get("port") not in ports and p.get("port") not in ports.values():
                    error(nw, f"ingress rule {n}: port {p.get('port')!r} is not a container port")
                if p.get("port") in ("http", ports.get("http")):
                    metrics_open = True
                if p.get("port") in ("docs", ports.get("docs")) and ports.get("docs") \
                        and not rule.get("from"):
                    error(nw, f"ingress rule {n} opens the document port to every source")
        if not metrics_open:
            error(nw, "no ingress rule for the metrics/probe port: Prometheus could not scrape")
        if docs_on and not any(p.get("port") in ("docs", ports.get("docs"))
                               for r in spec.get("ingress") or [] for p in r.get("ports") or []):
            warn(nw, "document reads are on but no pod may reach their port (networkPolicy.docs.from)")


def check_prometheus_rule(pr: dict, where: str, ctx: dict, metrics_service: dict | None) -> None:
    groups = pr["spec"].get("groups")
    if not isinstance(groups, list) or not groups:
        error(where, "spec.groups must be a non-empty list")
        return
    series = dict(ctx["series"])
    recorded = set()
    for g in groups:
        for r in g.get("rules") or []:
            if "record" in r:
                recorded.add(r["record"])
                series[r["record"]] = "gauge"
    names = set()
    alerts = set()
    for g in groups:
        gw = f"{where} group {g.get('name')}"
        if not g.get("name"):
            error(where, "group without name")
        if g.get("name") in names:
            error(where, f"group {g['name']} twice")
        names.add(g.get("name"))
        if set(g) - {"name", "rules", "interval", "limit", "partial_response_strategy", "query_offset", "labels"}:
            error(gw, f"unknown group keys {sorted(set(g) - {'name', 'rules', 'interval'})}")
        rules = g.get("rules")
        if not isinstance(rules, list) or not rules:
            error(gw, "rules must be a non-empty list")
            continue
        for r in rules:
            rid = r.get("alert") or r.get("record")
            rw = f"{gw} rule {rid}"
            if ("alert" in r) == ("record" in r):
                error(rw, "a rule has exactly one of alert and record")
            allowed = {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}
            if set(r) - allowed:
                error(rw, f"unknown keys {sorted(set(r) - allowed)}")
            expr = r.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                error(rw, "expr missing")
                continue
            used = promql_check(expr, series, rw)
            ctx["used_metrics"] |= used
            if metrics_service is not None:
                job = metrics_service["metadata"]["name"]
                for sel in re.findall(r"\{([^{}]*)\}", expr):
                    if f'job="{job}"' not in sel:
                        error(rw, f"selector {{{sel}}} does not restrict job=\"{job}\" "
                                  "(the ServiceMonitor's target)")
            if "for" in r and not DURATION.match(str(r["for"])):
                error(rw, f"for {r['for']!r} is not a duration")
            if "record" in r:
                if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", r["record"]) or ":" not in r["record"]:
                    error(rw, "recording rule names follow level:metric:operations")
                continue
            if r["alert"] in alerts:
                error(rw, "alert name used twice")
            alerts.add(r["alert"])
            if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                error(rw, "labels.severity must be critical, warning or info")
            ann = r.get("annotations") or {}
            for k in ("summary", "description"):
                if not ann.get(k):
                    error(rw, f"annotations.{k} missing")
            rb = ann.get("runbook_url")
            if rb:
                anchor = rb.rsplit("#", 1)[-1]
                if anchor not in ctx["readme_anchors"]:
                    error(rw, f"runbook anchor #{anchor} is not a heading of deploy/README.md")
    for want in ("WcoordLagGrowing", "WcoordLagSecondsHigh", "WcoordDeadLetterRateHigh",
                 "WcoordNotReady", "WcoordInstanceDown"):
        if want not in alerts:
            error(where, f"alert {want} missing")


# --------------------------------------------------------------------------
# Dashboard

REQUIRED_PANELS = {
    "Lag per partition (records)": ["kafka_consumergroup_lag"],
    "Lag in seconds per partition": ["wcoord_consumer_lag_seconds"],
    "Decisions by outcome": ["wcoord_mutations_total"],
    "Dead-letter rate": ["wcoord_dlq_produced_total"],
    "Decision latency": ["wcoord_decision_latency_seconds_bucket"],
    "End-to-end latency": ["wcoord_end_to_end_latency_seconds_bucket"],
    "Commit latency": ["wcoord_commit_latency_seconds_bucket"],
    "Active document actors": ["wcoord_active_document_actors"],
    "Restore progress": ["wcoord_restore_progress_ratio"],
    "Rebalances": ["wcoord_rebalances_total"],
    "Ready and assigned partitions": ["wcoord_ready"],
}
GRAFANA_BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s",
                        "__range_ms"}


def check_dashboard(path: Path, chart_copy: Path, ctx: dict) -> None:
    where = str(path)
    try:
        dash = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        error(where, f"does not parse: {e}")
        return
    ctx["dashboard"] = dash
    if not chart_copy.exists() or chart_copy.read_bytes() != path.read_bytes():
        error(str(chart_copy), f"differs from {path}; copy it: cp {path} {chart_copy}")
    for k in ("uid", "title", "panels", "templating", "schemaVersion"):
        if k not in dash:
            error(where, f"{k} missing")
    if "__inputs" in dash:
        error(where, "__inputs (export-for-sharing form) breaks provisioning; use the datasource variable")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        error(where, "a `datasource` variable of type datasource is required")
    ids = set()
    titles = {}
    for p in dash.get("panels", []):
        pw = f"{where} panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            error(pw, "duplicate panel id")
        ids.add(p.get("id"))
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")) or gp["x"] + gp["w"] > 24:
            error(pw, f"bad gridPos {gp}")
        if p.get("type") == "row":
            continue
        if not p.get("description"):
            error(pw, "description missing")
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            error(pw, "datasource must be ${datasource}")
        targets = p.get("targets") or []
        if not targets:
            error(pw, "no targets")
        used = set()
        for t in targets:
            expr = t.get("expr", "")
            if not expr:
                error(pw, f"target {t.get('refId')} has no expr")
                continue
            for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expr):
                if var not in variables and var not in GRAFANA_BUILTIN_VARS:
                    error(pw, f"uses undefined variable ${var}")
            used |= promql_check(expr, ctx["series"], pw)
        ctx["used_metrics"] |= used
        titles[p.get("title")] = used
    for v in variables.values():
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and isinstance(q, str):
            m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q)
            if not m:
                error(where, f"variable {v['name']}: unsupported query {q!r}")
            else:
                ctx["used_metrics"] |= promql_check(m.group(1), ctx["series"], f"{where} variable {v['name']}")
    for title, metrics in REQUIRED_PANELS.items():
        if title not in titles:
            error(where, f"panel {title!r} missing")
        elif not set(metrics) <= titles[title]:
            error(where, f"panel {title!r} must query {metrics}")
    for title in ("Decision latency", "End-to-end latency", "Commit latency"):
        p = next((p for p in dash.get("panels", []) if p.get("title") == title), None)
        if p:
            exprs = " ".join(t.get("expr", "") for t in p.get("targets", []))
            for q in ("0.5", "0.99"):
                if f"histogram_quantile({q}," not in exprs:
                    error(where, f"panel {title!r} lacks p{q[2:] if q != '0.5' else '50'}")


# --------------------------------------------------------------------------
# Dockerfile

def dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    out = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        parts = buf.strip().split(None, 1)
        out.append((start, parts[0].upper(), parts[1] if len(parts) > 1 else ""))
        buf = ""
    return out


def apt_packages(run_args: str) -> list[str]:
    pkgs = []
    for seg in re.split(r"&&|;", run_args):
        words = shlex.split(seg)
        if len(words) >= 2 and words[0] == "apt-get" and "install" in words:
            for w in words[words.index("install") + 1:]:
                if not w.startswith("-"):
                    pkgs.append(w)
    return pkgs


def check_dockerfile(path: Path, repo: Path, ctx: dict) -> None:
    where = str(path)
    text = path.read_text()
    ins = dockerfile_instructions(text)
    stages: list[list[tuple[int, str, str]]] = []
    for i in ins:
        if i[1] == "FROM":
            stages.append([])
        if not stages:
            if i[1] != "ARG":
                error(where, f"line {i[0]}: {i[1]} before the first FROM")
            continue
        stages[-1].append(i)
    if len(stages) < 2:
        error(where, "must be multi-stage (build, then runtime)")
        return
    for st in stages:
        n, _, arg = st[0]
        image = arg.split()[0]
        if image.startswith("--platform"):
            image = arg.split()[1]
        if "@sha256:" in image:
            image = image.split("@")[0]
        if ":" not in image or image.endswith(":latest"):
            error(where, f"line {n}: FROM {image} is not pinned to a tag")
        elif not re.fullmatch(r"(docker\.io/)?(library/)?debian:(12(\.[0-9]+)?|bookworm)([-.][a-z0-9-]+)?", image):
            error(where, f"line {n}: FROM {image} is not Debian 12 (bookworm)")
    for n, cmd, arg in ins:
        if cmd == "ADD":
            if re.search(r"\b(https?|ftp)://", arg):
                error(where, f"line {n}: ADD of a URL (fetch in RUN with checksum, or COPY)")
            else:
                warn(where, f"line {n}: prefer COPY over ADD")
        if cmd == "RUN" and "apt-get install" in arg:
            if "--no-install-recommends" not in arg:
                error(where, f"line {n}: apt-get install without --no-install-recommends")
            if "rm -rf /var/lib/apt/lists" not in arg:
                error(where, f"line {n}: apt lists not removed in the same layer")
        if cmd == "RUN" and re.search(r"\b(curl|wget)\b", arg):
            error(where, f"line {n}: downloads during the build; use Debian packages")
        if cmd == "COPY" and "--from=" not in arg:
            srcs = [a for a in shlex.split(arg) if not a.startswith("--")][:-1]
            for s in srcs:
                if s != "." and not (repo / s).exists():
                    error(where, f"line {n}: COPY source {s} does not exist in the repository")
    final = stages[-1]
    last = {}
    for n, cmd, arg in final:
        last.setdefault(cmd, []).append((n, arg))

    def one(cmd):
        return last.get(cmd, [(None, None)])[-1][1]
    user = one("USER")
    if user is None:
        error(where, "runtime stage sets no USER")
    else:
        uid = user.split(":")[0]
        if uid in ("root", "0") or not uid.isdigit():
            error(where, f"USER {user}: must be a numeric non-root uid (runAsNonRoot checks it)")
        elif uid != "10001":
            error(where, f"USER {user}: the chart runs as uid 10001")
    if one("STOPSIGNAL") != "SIGTERM":
        error(where, "STOPSIGNAL SIGTERM missing")
    try:
        ep = json.loads(one("ENTRYPOINT") or "null")
        if ep != ["/usr/local/bin/wcoord"]:
            error(where, f'ENTRYPOINT must be exec form ["/usr/local/bin/wcoord"], got {one("ENTRYPOINT")}')
    except json.JSONDecodeError:
        error(where, "ENTRYPOINT is not exec (JSON) form")
    try:
        cmd = json.loads(one("CMD") or "null")
        if cmd != ["run", "--config", CONFIG_PATH]:
            error(where, f'CMD must be ["run","--config","{CONFIG_PATH}"], got {one("CMD")}')
    except json.JSONDecodeError:
        error(where, "CMD is not exec (JSON) form")
    if "9464" not in " ".join(a for _, a in last.get("EXPOSE", [])):
        error(where, "EXPOSE 9464 missing")
    vols = " ".join(a for _, a in last.get("VOLUME", []))
    if STATE_DIR not in vols:
        error(where, f"VOLUME {STATE_DIR} missing")
    if not one("WORKDIR"):
        error(where, "runtime stage sets no WORKDIR")
    if "HEALTHCHECK" in last:
        warn(where, "HEALTHCHECK is ignored by Kubernetes (the chart's probes apply)")
    copies = [a for _, a in last.get("COPY", [])]
    if not any("--from=" in a and "/usr/local/bin/wcoord" in a for a in copies):
        error(where, "runtime stage does not copy the binary to /usr/local/bin/wcoord")
    run_pkgs = [p for _, a in last.get("RUN", []) for p in apt_packages(a)]
    build_pkgs = [p for st in stages[:-1] for n, c, a in st if c == "RUN" for p in apt_packages(a)]
    if any(p.endswith("-dev") or p in ("g++", "gcc", "cmake") for p in run_pkgs):
        error(where, f"runtime stage installs build tools: {run_pkgs}")
    ctx["runtime_packages"] = run_pkgs
    ctx["build_packages"] = build_pkgs


def apt_check(ctx: dict, repo: Path, binary: Path | None) -> None:
    where = "deploy/Dockerfile packages"
    if not shutil.which("apt-cache"):
        warn(where, "apt-cache not available: package names not checked")
        return
    pkgs = ctx.get("runtime_packages", []) + ctx.get("build_packages", [])
    if not pkgs:
        return
    res = subprocess.run(["apt-cache", "show", "--no-all-versions", *pkgs],
                         capture_output=True, text=True)
    known = set(re.findall(r"^Package: (\S+)", res.stdout, re.M))
    for p in pkgs:
        if p not in known:
            error(where, f"{p} is not a Debian package here (apt-get update? wrong name?)")
    if binary is None:
        warn(where, "no built binary (build/app/wcoord): runtime libraries not cross-checked with ldd")
        return
    if not shutil.which("ldd") or not shutil.which("dpkg"):
        warn(where, "ldd/dpkg missing: runtime libraries not cross-checked")
        return
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    libs = []
    for line in res.stdout.splitlines():
        if "not found" in line:
            error(where, f"{binary}: {line.strip()}")
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    deps = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends",
         *ctx.get("runtime_packages", [])], capture_output=True, text=True).stdout
    closure = {l.strip() for l in deps.splitlines() if l and not l[0].isspace()}
    closure |= {l.split(":", 1)[1].strip() for l in deps.splitlines()
                if l.strip().startswith(("Depends:", "PreDepends:")) and "<" not in l}
    closure = {c.split(":")[0] for c in closure}
    for lib in libs:
        candidates = {lib, os.path.realpath(lib)}
        candidates |= {"/usr" + c for c in list(candidates) if c.startswith("/lib")}
        candidates |= {c[4:] for c in list(candidates) if c.startswith("/usr/lib")}
        owner = None
        for cand in candidates:
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        if owner is None:
            warn(where, f"{lib}: no Debian package owns it")
        elif owner not in closure:
            error(where, f"{binary} links {lib} from {owner}, which the runtime stage does not install "
                         f"(add {owner} to its apt-get install)")
    ctx["ldd_libs"] = len(libs)


# --------------------------------------------------------------------------

def readme_anchors(path: Path) -> set[str]:
    anchors = set()
    if not path.exists():
        return anchors
    for line in path.read_text().splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--rendered", required=True, type=Path)
    ap.add_argument("--kube-versions", required=True)
    ap.add_argument("--binary", default="")
    args = ap.parse_args()
    repo = args.repo.resolve()
    deploy = repo / "deploy"

    ctx: dict = {"kube_versions": args.kube_versions.split(","), "used_metrics": set(),
                 "scenario_persistent": {"variant": False}}
    metrics = load_metrics(deploy / "metrics.txt")
    ctx["series"] = expand_series(metrics)
    ctx["readme_anchors"] = readme_anchors(deploy / "README.md")

    # wcoord's configuration keys vs the chart's schema.
    keys = service_config_keys(repo)
    schema = json.loads((deploy / "helm/wcoord/values.schema.json").read_text())
    schema_keys = set(schema["properties"]["config"]["propertyNames"]["enum"])
    if keys is None:
        warn("app/service_config.cpp", "options table not found: config keys checked against the chart's schema only")
        ctx["service_keys"] = schema_keys | NOT_OFFERED
    else:
        ctx["service_keys"] = keys
        for k in sorted(keys - schema_keys - NOT_OFFERED):
            error("values.schema.json", f"wcoord key {k} is missing from config.propertyNames "
                                        "(add it, or to the chart-owned keys)")
        for k in sorted(schema_keys - keys):
            error("values.schema.json", f"config key {k} is not a wcoord key (app/service_config.cpp)")
        for k in sorted(CHART_OWNED - keys):
            error("check_deploy.py", f"chart-owned key {k} is not a wcoord key")

    check_dashboard(deploy / "grafana/wcoord-dashboard.json",
                    deploy / "helm/wcoord/dashboards/wcoord-dashboard.json", ctx)

    scenarios = sorted(args.rendered.glob("*.yaml"))
    if not scenarios:
        error(str(args.rendered), "no rendered manifests")
    counts = {}
    for f in scenarios:
        name = f.stem
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        except yaml.YAMLError as e:
            error(str(f), f"YAML: {e}")
            continue
        counts[name] = len(docs)
        check_scenario(name, docs, ctx)

    unused_families = {m for m in metrics if not any(s.startswith(m) for s in ctx["used_metrics"])}
    for m in sorted(unused_families):
        warn("deploy/metrics.txt", f"{m} is exported but neither alerted on nor charted")

    # Are the metric names in wcoord's source yet? (Warn only: the exporter is
    # written alongside this deployment.)
    src_text = ""
    for d in ("app", "actors", "kafka", "store", "engine", "support", "http", "metrics", "src"):
        p = repo / d
        if p.is_dir():
            for f in p.rglob("*"):
                if f.suffix in (".cpp", ".hpp", ".h", ".cc") and f.is_file():
                    src_text += f.read_text(errors="replace")
    missing_src = [m for m in metrics if m not in src_text]
    if missing_src:
        warn("wcoord sources", f"{len(missing_src)} of {len(metrics)} metric names from deploy/metrics.txt "
                               f"do not appear in the C++ sources yet: {', '.join(missing_src)}")

    check_dockerfile(deploy / "Dockerfile", repo, ctx)
    binary = Path(args.binary) if args.binary and Path(args.binary).exists() else None
    apt_check(ctx, repo, binary)

    for w in WARNINGS:
        print(f"  warning: {w}")
    for e in ERRORS:
        print(f"  FAIL: {e}")
    summary = ", ".join(f"{k}: {v} objects" for k, v in counts.items())
    print(f"  manifests: {summary}; Kubernetes schemas {args.kube_versions}; "
          f"metrics queried: {len(ctx['used_metrics'])}; "
          f"runtime libraries cross-checked: {ctx.get('ldd_libs', 0)}")
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main())

"""The change-data-capture stack of debezium_cdc.py, none of it written here:
a throwaway PostgreSQL cluster (Debian's binaries, logical WAL, a temporary
directory, a loopback port) and a Kafka Connect standalone worker from the
Kafka distribution scripts/kafka downloads, running Debezium's PostgreSQL
connector (scripts/debezium), driven through Connect's REST API."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request

import psycopg2
import psycopg2.extras

from harness import ROOT, check, wait_until

# What a run leaves behind if it is killed (a ctest timeout) is stopped by
# the next run on the same port, found through these notes.
STATE = os.path.join(os.environ.get("WCOORD_KAFKA_HOME") or
                     os.path.join(os.path.expanduser("~"), ".cache", "wcoord-kafka"), "cdc-test")


def _note(name, text=None):
    """Reads (text None) or writes a note of a running process."""
    path = os.path.join(STATE, name)
    if text is None:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    os.makedirs(STATE, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return ""


def _postgres_bin():
    """The newest installed PostgreSQL's bin directory (Debian keeps each
    major version under /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise SystemExit("PostgreSQL is not installed (scripts/setup installs the postgresql package)")
    return os.path.dirname(found[-1])


class Postgres:
    """A cluster of its own in a temporary directory, on 127.0.0.1:port.
    PostgreSQL refuses to run as root, so as root it runs as the `postgres`
    user the Debian package creates."""

    def __init__(self, port):
        self.port = port
        self.bin = _postgres_bin()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        left = _note("postgres-%d" % port)
        if left and os.path.exists(os.path.join(left, "data", "postmaster.pid")):
            self.dir, self.data = left, os.path.join(left, "data")
            self.stop()  # a killed run's cluster
        self.dir = tempfile.mkdtemp(prefix="wcoord-pg-")
        _note("postgres-%d" % port, self.dir)
        self.data = os.path.join(self.dir, "data")
        if self.as_user:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        options = " ".join([
            "-c port=%d" % port, "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=" + self.dir,
            # Logical decoding for Debezium; a few slots for its connectors.
            "-c wal_level=logical", "-c max_wal_senders=10", "-c max_replication_slots=10",
            # Throwaway data: durability would only cost test time.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"])
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"),
                  "-w", "-t", "60", "start")

    def _run(self, tool, *args):
        out = subprocess.run(self.as_user + [os.path.join(self.bin, tool), *args],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SystemExit("%s failed: %s\n%s" % (tool, out.stderr[-2000:], self.log_tail()))

    def connect(self, autocommit=True):
        c = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             cursor_factory=psycopg2.extras.RealDictCursor)
        c.autocommit = autocommit
        return c

    def execute(self, sql, params=None):
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            c.close()

    def rows(self, table, key="id"):
        """SELECT * as {str(key): row dict}."""
        return {str(r[key]): dict(r) for r in self.execute("SELECT * FROM " + table)}

    def slot_created(self, slot):
        """The slot exists and its creation has returned: from then on every
        new transaction is streamed with LSNs above the snapshot's."""
        rows = self.execute(
            "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s) AS slots, "
            "(SELECT count(*) FROM pg_stat_activity WHERE query ILIKE %s "
            "AND pid <> pg_backend_pid()) AS creating",
            (slot, "%CREATE_REPLICATION_SLOT%" + slot + "%"))
        return rows[0]["slots"] == 1 and rows[0]["creating"] == 0

    def slot_creation_waits_for(self, xid):
        """A slot's creation waits for transaction `xid` to end: it has
        logged the running transactions it must see finish, `xid` among
        them (PostgreSQL's snapshot builder, snapbuild.c)."""
        rows = self.execute(
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'transactionid' AND NOT l.granted "
            "AND l.transactionid::text::bigint = %s AND a.query ILIKE %s",
            (xid, "%CREATE_REPLICATION_SLOT%"))
        return rows[0]["n"] > 0

    def slot_active(self, slot):
        rows = self.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        return bool(rows) and rows[0]["active"]

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        subprocess.run(self.as_user + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m",
                                       "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class ConnectWorker:
    """Kafka Connect standalone (scripts/debezium connect) with the REST API
    on 127.0.0.1:port; connectors come and go through it."""

    def __init__(self, port, bootstrap, workdir, key_schemas=False, value_schemas=False):
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.workdir = workdir
        plugins = subprocess.run([os.path.join(ROOT, "scripts", "debezium"), "path"],
                                 capture_output=True, text=True, timeout=900)
        if plugins.returncode != 0:
            raise SystemExit("scripts/debezium path failed:\n" + plugins.stderr[-2000:])
        worker = os.path.join(workdir, "worker.properties")
        with open(worker, "w") as f:
            f.write("\n".join([
                "bootstrap.servers=" + bootstrap,
                "key.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable=%s" % str(key_schemas).lower(),
                "value.converter.schemas.enable=%s" % str(value_schemas).lower(),
                "offset.storage.file.filename=" + os.path.join(workdir, "connect.offsets"),
                "offset.flush.interval.ms=1000",
                "plugin.path=" + plugins.stdout.strip().splitlines()[-1],
                "plugin.discovery=service_load",
                "listeners=" + self.base, ""]))
        left = _note("connect-%d" % port)
        if left and left.isdigit() and "ConnectStandalone" in _cmdline(int(left)):
            os.killpg(int(left), signal.SIGKILL)  # a killed run's worker (its own group)
        self.log_path = os.path.join(workdir, "connect.log")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(ROOT, "scripts", "debezium"), "connect", worker],
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _note("connect-%d" % port, str(self.proc.pid))
        wait_until(lambda: self._answers() or self.proc.poll() is not None, 180,
                   "the Kafka Connect worker's REST API")
        if self.proc.poll() is not None:
            raise SystemExit("Kafka Connect exited (rc=%s):\n%s" % (self.proc.returncode, self.log_tail()))

    def _answers(self):
        try:
            with urllib.request.urlopen(self.base + "/connector-plugins", timeout=2) as r:
                return "PostgresConnector" in r.read().decode()
        except (OSError, ValueError):
            return False

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def create(self, name, config):
        status, body = self.request("POST", "/connectors", {"name": name, "config": config})
        check(status in (200, 201), "connector %s created (%s: %s)" % (name, status, body))

    def delete(self, name):
        status, body = self.request("DELETE", "/connectors/" + name)
        check(status in (200, 204), "connector %s deleted (%s: %s)" % (name, status, body))

    def task_state(self, name):
        status, body = self.request("GET", "/connectors/%s/status" % name)
        if status != 200 or not body.get("tasks"):
            return None
        return body["tasks"][0]["state"]

    def log_tail(self, n=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


def postgres_connector(pg, prefix, slot, tables, **extra):
    """Debezium's PostgreSQL connector on `tables`, into topics
    <prefix>.<schema>.<table>, through its own slot and publication."""
    config = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1", "database.port": str(pg.port),
        "database.user": "postgres", "database.password": "unused", "database.dbname": "postgres",
        "topic.prefix": prefix, "plugin.name": "pgoutput", "slot.name": slot,
        "publication.name": slot, "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join(tables),
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "3",
    }
    config.update(extra)
    return config

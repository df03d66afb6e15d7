"""What the driver measures about processes: CPU time, peak memory, and
how busy the machine was with everything else."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of a live process, all its threads."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return float("nan")


def peak_rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine_busy_seconds():
    """CPU seconds the whole machine spent busy (all cores) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / CLK


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


class Window:
    """CPU used between start() and stop(): by the contender, by the broker,
    and by everything else on the machine (other engineers' builds: the
    noise each figure carries)."""

    def __init__(self, pid, broker_pid):
        self.pid, self.broker_pid = pid, broker_pid

    def _sample(self):
        return (time.monotonic(), cpu_seconds(self.pid),
                cpu_seconds(self.broker_pid) if self.broker_pid else float("nan"),
                machine_busy_seconds(), own_cpu_seconds())

    def start(self):
        self.a = self._sample()
        return self

    def stop(self):
        b = self._sample()
        wall, mine, broker, busy, driver = (y - x for x, y in zip(self.a, b))
        self.wall, self.cpu, self.broker_cpu = wall, mine, broker
        others = busy - mine - (broker if broker == broker else 0) - driver
        self.others_cores = max(0.0, others) / wall if wall > 0 else float("nan")
        return self


class Process:
    """A contender process whose output (stdout and stderr) is kept."""

    def __init__(self, argv, env=None, log_path=None):
        self.argv = argv
        self.lines = []
        self.log = open(log_path, "w") if log_path else None
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.pid = self.proc.pid
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.log:
                self.log.write(line + "\n")
                self.log.flush()

    def wait_for(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                if rx.search(self.lines[seen]):
                    return
                seen += 1
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (rc=%s) before /%s/:\n%s" % (
                    os.path.basename(self.argv[0]), self.proc.returncode, pattern, self.tail()))
            time.sleep(0.01)
        raise RuntimeError("%s: no /%s/ within %ss:\n%s" % (
            os.path.basename(self.argv[0]), pattern, timeout, self.tail()))

    def tail(self, n=30):
        return "\n".join(self.lines[-n:])

    def stop(self, timeout=90):
        """SIGTERM and wait; True if it exited by itself in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            ok = True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            ok = False
        if self.log:
            self.log.close()
        return ok


class Progress:
    """One status line, rewritten in place on a terminal, else printed every
    few seconds (a log stays readable)."""

    def __init__(self, label, total):
        self.label, self.total = label, total
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, done, force=False):
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 5.0):
            return
        self.last = now
        secs = now - self.t0
        text = "  %-34s %9d / %d  %5.1f s  %8.0f/s" % (self.label, done, self.total, secs,
                                                     done / secs if secs > 0 else 0)
        sys.stderr.write(("\r" + text + "   ") if self.tty else text + "\n")
        sys.stderr.flush()

    def done(self):
        if self.tty:
            sys.stderr.write("\n")

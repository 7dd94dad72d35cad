"""relaybench -- shared pieces of relay's system benchmarks (bench/e2e, bench/idle_connections.py).

What it is for: starting relayd and relay-sink from a build folder with a configuration written
to a scratch folder, waiting for their ports, and reading what the kernel says about a process
(CPU ticks, VmHWM, VmRSS, PSS). Runs on the benchmark's main thread, except `MemorySampler`,
which runs its own thread. Touches no untrusted bytes: only loopback peers the benchmark starts.
Implements no RFC. It must never leave a process it started running: every start has a stop,
and `Cleanup` stops whatever is left when the benchmark ends, by any path.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run that cannot be measured (a process died, a port is taken, a timeout)."""


# --- the build -----------------------------------------------------------------------------------

def ensure_build(build_dir):
    """Installs the build packages and builds `build_dir` (release), as tools/test does."""
    script = ('source tools/lib/common.sh && ensure_packages "${packages_build[@]}" && '
              'meson_build "$1"')
    result = subprocess.run(["bash", "-c", script, "build", build_dir], cwd=REPO_ROOT)
    if result.returncode != 0:
        raise BenchError(f"building {build_dir} failed")


def build_paths(build_dir):
    """The programs a benchmark runs, from the build folder (relative to the repository)."""
    base = os.path.join(REPO_ROOT, build_dir)
    paths = {
        "relayd": os.path.join(base, "src", "relayd", "relayd"),
        "relayctl": os.path.join(base, "src", "relayctl", "relayctl"),
        "loadgen": os.path.join(base, "tools", "loadgen"),
        "sink": os.path.join(base, "bench", "relay-sink"),
    }
    for name, path in paths.items():
        if not os.access(path, os.X_OK):
            raise BenchError(f"{name} not built: {path} (build {build_dir} first)")
    return paths


# --- the machine ---------------------------------------------------------------------------------

def filesystem_type(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip()


def machine_summary():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_kib = int(meminfo.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 1048576, 1),
        "kernel": os.uname().release,
    }


def load_average():
    return os.getloadavg()


def machine_cpu_ticks():
    """(busy, steal, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # in user and nice.
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    steal = fields[7]
    return total - idle - steal, steal, total


def cpu_share(before, after):
    """(busy %, steal %) of all CPUs between two `machine_cpu_ticks()` readings."""
    elapsed = after[2] - before[2]
    if elapsed <= 0:
        return 0.0, 0.0
    return (100.0 * (after[0] - before[0]) / elapsed, 100.0 * (after[1] - before[1]) / elapsed)


class DiskCounters:
    """Writes, sectors written and cache flushes of the disk that holds `path`, from
    /proc/diskstats (machine-wide: other work on the disk is counted too)."""

    def __init__(self, path):
        device = os.stat(path).st_dev
        self.major, self.minor = os.major(device), os.minor(device)

    def read(self):
        with open("/proc/diskstats") as diskstats:
            for line in diskstats:
                fields = line.split()
                if int(fields[0]) == self.major and int(fields[1]) == self.minor:
                    flushes = int(fields[18]) if len(fields) > 18 else 0
                    return {"writes": int(fields[7]), "bytes_written": int(fields[9]) * 512,
                            "flushes": flushes}
        return None

    @staticmethod
    def delta(before, after):
        if before is None or after is None:
            return None
        return {key: after[key] - before[key] for key in before}


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_port(port, process=None, timeout_s=15.0):
    """Waits until 127.0.0.1:port accepts a connection; fails early when `process` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BenchError(f"process exited with status {process.returncode} before "
                             f"listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


# --- what the kernel says about a process ----------------------------------------------------------

def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rindex(")") + 2:].split()


def cpu_ticks(pid, with_children=False):
    """utime + stime (+ cutime + cstime) of a process, all its threads, in clock ticks."""
    fields = stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def parent_of(pid):
    return int(stat_fields(pid)[1])


def children_of(parent):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if parent_of(int(entry)) == parent:
                children.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return children


def status_kib(pid, key):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


def rollup_kib(pid):
    """(Rss, Pss) of a process from /proc/PID/smaps_rollup, in KiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


class ProcessGroupView:
    """A process and its children (Postfix: master and the daemons it spawns), or one process
    (relayd: its threads are in its own counters)."""

    def __init__(self, pid, with_children):
        self.pid = pid
        self.with_children = with_children

    def members(self):
        return [self.pid] + (children_of(self.pid) if self.with_children else [])

    def cpu_ticks(self):
        """CPU of everything the group ran so far. For a group, the leader's cutime/cstime
        hold the children it has reaped, and each live child adds its own (and its reaped
        children's): a child that exits between two readings is counted in both."""
        if not self.with_children:
            return cpu_ticks(self.pid)
        total = 0
        for pid in self.members():
            try:
                total += cpu_ticks(pid, with_children=True)
            except OSError:
                continue
        return total

    def memory_kib(self):
        """(sum of RSS, sum of PSS) over the members now."""
        rss_total = pss_total = 0
        for pid in self.members():
            try:
                rss, pss = rollup_kib(pid)
            except OSError:
                continue
            rss_total += rss
            pss_total += pss
        return rss_total, pss_total


class MemorySampler(threading.Thread):
    """Samples a process group's summed RSS and PSS every `interval_s` and keeps the peaks."""

    def __init__(self, view, interval_s=0.2):
        super().__init__(daemon=True)
        self.view = view
        self.interval_s = interval_s
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.samples = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            rss, pss = self.view.memory_kib()
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self.samples += 1
            self.stopping.wait(self.interval_s)

    def stop(self):
        self.stopping.set()
        self.join()


# --- processes the benchmark starts ------------------------------------------------------------------

class Cleanup:
    """Stop actions run in reverse order when the benchmark ends, however it ends."""

    def __init__(self):
        self.actions = []

    def add(self, action):
        self.actions.append(action)
        return action

    def remove(self, action):
        if action in self.actions:
            self.actions.remove(action)

    def run(self):
        while self.actions:
            action = self.actions.pop()
            try:
                action()
            except Exception as error:  # keep stopping the others
                print(f"warning: cleanup: {error}", flush=True)


def stop_process(process, timeout_s=15.0):
    """SIGTERM, then SIGKILL after `timeout_s`. Returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Sink:
    """relay-sink on 127.0.0.1:port, counting into a JSON stats file."""

    def __init__(self, paths, folder, name, port, defer_percent=0, reject_percent=0,
                 record=False, workers=1):
        self.stats_path = os.path.join(folder, f"{name}.stats.json")
        self.log_path = os.path.join(folder, f"{name}.log")
        self.record_path = os.path.join(folder, f"{name}.record.tsv") if record else None
        self.port = port
        command = [paths["sink"], "--listen", f"127.0.0.1:{port}", "--stats", self.stats_path,
                   "--defer-percent", str(defer_percent), "--reject-percent",
                   str(reject_percent), "--workers", str(workers)]
        if record:
            command += ["--record", self.record_path]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(port, self.process)
        except BenchError:
            stop_process(self.process)
            raise

    def stats(self):
        """The latest counters, or zeros before the first write."""
        try:
            with open(self.stats_path) as stats:
                return json.load(stats)
        except (OSError, ValueError):
            return {"messages": 0, "deferred": 0, "rejected": 0, "recipients": 0, "bytes": 0,
                    "connections": 0}

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"relay-sink on port {self.port} exited with status "
                             f"{self.process.returncode} (see {self.log_path})")

    def stop(self):
        stop_process(self.process)


class Relayd:
    """relayd with a configuration written to `folder` (spool under it)."""

    def __init__(self, paths, folder, config_text, nofile_limit=None, log_mode="w"):
        """`log_mode` "a" appends to the log of an earlier run on the same folder."""
        self.folder = folder
        self.config_path = os.path.join(folder, "relayd.toml")
        self.log_path = os.path.join(folder, "relayd.log")
        self.paths = paths
        with open(self.config_path, "w") as config:
            config.write(config_text)

        def raise_limit():
            if nofile_limit:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile_limit, nofile_limit))

        with open(self.log_path, log_mode) as log:
            self.process = subprocess.Popen([paths["relayd"], "--config", self.config_path],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=raise_limit)
        self.pid = self.process.pid

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"relayd exited with status {self.process.returncode} "
                             f"(see {self.log_path})")

    def queue_summary(self):
        """`relayctl queue summary --json`: destinations with messages still queued."""
        result = subprocess.run([self.paths["relayctl"], "--config", self.config_path, "queue",
                                 "summary", "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"relayctl queue summary failed: {result.stderr.strip()}")
        return json.loads(result.stdout or "[]")

    def log_problems(self, limit=10):
        """(count, first lines) of warning and error lines in relayd's log."""
        problems = []
        with open(self.log_path, errors="replace") as log:
            for line in log:
                if " warning: " in line or " error: " in line or " fatal" in line:
                    problems.append(line.rstrip())
        return len(problems), problems[:limit]

    def stop(self):
        return stop_process(self.process, timeout_s=20.0)

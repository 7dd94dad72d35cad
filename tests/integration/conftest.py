"""Fixtures for integration tests: the real relayd and relayctl binaries, real peers.

Every server a test needs (relayd, a receiving SMTP server, a DNS server) is started here on
loopback with a free port and stopped when the test ends. Run through meson (`meson test -C
build --suite integration`), which sets RELAY_BUILD_DIR; or by hand:
    RELAY_BUILD_DIR=build /usr/bin/python3 -m pytest tests/integration

Files run two at a time. Meson's `integration` test runs pytest-xdist with `-n 2 --dist
loadfile`: each file goes whole to one of two worker processes, so a module-scoped fixture starts
once and the tests of one file never overlap each other, but two files do. Most of a test's time
is spent waiting on sockets and timers, so two workers on two cores take about half the time of
one. What makes a file safe to run beside another:
* ports come from free_port() (or delivery_support's port for every loopback address), folders
  from tmp_path / tmp_path_factory, never a fixed port or a fixed path;
* wait for a condition (helpers.wait_until, wait_for_port) instead of sleeping a fixed time, and
  give every wait a deadline with room for a loaded machine (a neighbour file and a sanitizer
  build may run at the same time);
* nothing changes the machine: no package install, no file under /etc, no system service.
A test that cannot follow these rules (it binds a fixed port, changes system state, or measures
a time or a rate that a neighbour would disturb) is marked `@pytest.mark.serial` (a whole file:
`pytestmark = pytest.mark.serial`); meson's `integration-serial` test runs the serial tests alone,
one at a time, after the others.

Each run writes the time of each file (setup, call and teardown of its tests, summed) to the JSON
file named by RELAY_TEST_TIMES, and prints the slowest files at its end; tools/test prints the
ten slowest of each test stage, so growth shows where it happens. `--durations=30` gives the
slowest single tests.
"""
import json
import os
import random
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RELAY_BUILD_DIR", REPO / "build")).resolve()
RELAYD = BUILD / "src" / "relayd" / "relayd"
RELAYCTL = BUILD / "src" / "relayctl" / "relayctl"
LOADGEN = BUILD / "tools" / "loadgen"


def _sanitized():
    """Whether the build under test runs with ASan/UBSan: its memory use says nothing then (the
    allocator keeps freed blocks in quarantine), though its behaviour still does."""
    try:
        options = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(option["name"] == "b_sanitize" and option["value"] not in ("none", "")
               for option in options)


SANITIZED = _sanitized()


_file_seconds = {}  # test file -> seconds of its tests' setup, call and teardown


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: must not run beside another test (see this file's docstring)")


def pytest_runtest_logreport(report):
    """Runs on the controller under xdist too, which receives every worker's reports."""
    path = report.nodeid.split("::")[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    # The serial pass has nothing to fail when no test is marked serial.
    if (exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and
            session.config.getoption("markexpr") == "serial"):
        session.exitstatus = pytest.ExitCode.OK
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller writes the times
    target = os.environ.get("RELAY_TEST_TIMES")
    if target and _file_seconds:
        Path(target).write_text(json.dumps(_file_seconds, indent=1, sort_keys=True) + "\n")


def pytest_terminal_summary(terminalreporter, config):
    slowest = sorted(_file_seconds.items(), key=lambda item: -item[1])[:10]
    if slowest:
        terminalreporter.write_sep("=", "slowest files")
        for path, seconds in slowest:
            terminalreporter.write_line(f"{seconds:8.1f} s  {path}")


_PORTS = random.Random(os.getpid() ^ time.monotonic_ns())  # not the tests' seeded generator
_handed_out = set()


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port that nothing uses on any local address, taken below the kernel's ephemeral
    range. A port from bind(0) lies inside that range, where any outgoing connection or other
    bind(0) may take it before the server that was meant to have it binds it; below the range
    only an explicit bind can, so a free one stays free. The probe binds 0.0.0.0 without
    SO_REUSEADDR, so a port held on any loopback address, or by a closing connection, counts
    as used."""
    high = max(_ephemeral_low(), 12000)
    for _ in range(10000):
        port = _PORTS.randrange(10000, high)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free TCP port below the ephemeral range")


def wait_for_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Relayd:
    """A relayd process with its own config, spool and log in a temporary folder."""

    def __init__(self, folder: Path, settings: str = "", workers: int = 2, listener: str = ""):
        self.folder = folder
        self.listener = listener  # TOML lines added to the [[listener]] table
        self.port = free_port()
        self.spool = folder / "spool"
        self.config_path = folder / "relayd.toml"
        self.log_path = folder / "relayd.log"
        self.process = None
        self.write_config(settings, workers)

    def write_config(self, settings: str, workers: int):
        """`settings` is TOML appended to a minimal config; it may add tables."""
        base = textwrap.dedent(f"""
            [server]
            hostname = "relay.test"
            workers = {workers}
            shutdown_grace_s = 5

            [[listener]]
            name = "test"
            address = "127.0.0.1:{self.port}"
            """) + self.listener + textwrap.dedent("""
            [spool]
            path = "spool"
            """)
        self.config_path.write_text(base + textwrap.dedent(settings))

    def start(self, wait=True):
        starts_before = self.log().count("relayd started")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(RELAYD), "--config", str(self.config_path)],
                                        stdout=log, stderr=log)
        log.close()
        if wait:
            wait_for_port(self.port)
            # The port accepts from the moment it is bound, before the spool is recovered and
            # the workers run (relayd binds as root, then drops to server.user).
            deadline = time.monotonic() + 10
            while (self.log().count("relayd started") == starts_before and
                   self.process.poll() is None and time.monotonic() < deadline):
                time.sleep(0.01)
            assert self.process.poll() is None, self.log()
        return self

    def stop(self, timeout=20):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("relayd did not stop on SIGTERM\n" + self.log())
        return self.process.returncode if self.process else None

    def kill(self):
        """kill -9: no chance to flush or clean up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ctl(self, *arguments, check=True):
        result = subprocess.run([str(RELAYCTL), "--config", str(self.config_path), *arguments],
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"relayctl {' '.join(arguments)} failed "
                                 f"({result.returncode}): {result.stderr}")
        return result

    def queue(self):
        """The queue as relayctl lists it, by id."""
        return {m["id"]: m for m in json.loads(self.ctl("queue", "list", "--json").stdout)}

    def message_data(self, queue_id):
        """The stored bytes of a queued message."""
        result = subprocess.run([str(RELAYCTL), "--config", str(self.config_path), "queue",
                                 "show", queue_id, "--data"], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout


def relayd_maker(tmp_path, kind=Relayd):
    """Generator behind the relayd_factory fixtures: makes `kind` instances (extra keyword
    arguments go to its constructor) and kills those still running at the end of the test."""
    started = []

    def make(settings="", workers=2, start=True, name="relayd", **extra):
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        relayd = kind(folder, settings, workers, **extra)
        started.append(relayd)
        return relayd.start() if start else relayd

    yield make
    for relayd in started:
        if relayd.process and relayd.process.poll() is None:
            relayd.process.kill()
            relayd.process.wait()


@pytest.fixture
def relayd_factory(tmp_path):
    """Builds relayd instances; all are stopped at the end of the test."""
    yield from relayd_maker(tmp_path)


@pytest.fixture
def relayd(relayd_factory):
    """A relayd with the default settings."""
    return relayd_factory()

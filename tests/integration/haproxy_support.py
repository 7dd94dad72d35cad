"""HAProxy (Debian's haproxy) in TCP mode in front of relayd nodes, as a deployment behind a load
balancer runs it: the tests of the client address through the balancer use it, and so can those
of a fleet of nodes.

The test starts it on a free loopback port, in the foreground (-db), with a config file written
into the test's folder; its log (one line per connection, `option tcplog`) goes to its stdout,
kept in haproxy.log beside the config. Each backend server gets `send-proxy-v2` (the PROXY
protocol's binary form), `send-proxy` (its text form) or nothing.

    balancer = Haproxy(tmp_path, [relayd.port]).start()
    with SmtpClient(balancer.port, source="127.0.0.5") as client: ...
    balancer.stop()

or the `haproxy_factory` fixture, which stops every balancer it started when the test ends.
"""
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import free_port

HAPROXY = "/usr/sbin/haproxy"
PROXY_OPTIONS = {"v2": "send-proxy-v2", "v1": "send-proxy", None: ""}


class Haproxy:
    """HAProxy with one frontend on `address`:`port` and one backend of `servers`.

    servers: relayd ports on 127.0.0.1, or "IP:PORT" strings.
    proxy: "v2" (send-proxy-v2), "v1" (send-proxy) or None (a plain TCP relay).
    balance: HAProxy's balance algorithm across the servers.
    check: health-check each server (a TCP connect, every `check_interval_ms`), so that a
        stopped node is taken out of the rotation.
    server_options: more words for every server line (e.g. "port 2525": checks without the
        PROXY header).
    backend_options: more lines for the backend (e.g. "option smtpchk HELO balancer.test").
    Health checks are logged (`option log-health-checks`) when `check` is on.
    """

    def __init__(self, folder, servers, *, proxy="v2", address="127.0.0.1", port=None,
                 balance="roundrobin", check=False, check_interval_ms=500, server_options="",
                 backend_options="", name="haproxy"):
        self.folder = Path(folder) / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.address = address
        self.port = port or free_port()
        self.config_path = self.folder / "haproxy.cfg"
        self.log_path = self.folder / "haproxy.log"
        self.process = None
        lines = [f"    {line}" for line in backend_options.splitlines() if line.strip()]
        if check:
            lines.append("    option log-health-checks")
        for index, server in enumerate(servers):
            target = server if isinstance(server, str) else f"127.0.0.1:{server}"
            words = [f"server node{index}", target, PROXY_OPTIONS[proxy]]
            if check:
                words.append(f"check inter {check_interval_ms}ms fall 1 rise 1")
            words.append(server_options)
            lines.append("    " + " ".join(word for word in words if word))
        self.config_path.write_text(textwrap.dedent(f"""\
            global
                maxconn 4096
                log stdout format raw local0 info

            defaults
                mode tcp
                log global
                option tcplog
                timeout connect 5s
                timeout client 120s
                timeout server 120s

            frontend smtp
                bind {address}:{self.port}
                default_backend relayd

            backend relayd
                balance {balance}
            """) + "\n".join(lines) + "\n")

    def start(self):
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.config_path)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config_path)],
                                        stdout=log, stderr=log)
        log.close()
        self._wait_listening()
        return self

    def _wait_listening(self, timeout=10.0):
        # Read from the kernel's socket table, not probed with a connection: HAProxy would
        # forward a probe to a server, which would then see a client nobody meant.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "haproxy exited:\n" + self.log()
            if self._listening():
                return
            time.sleep(0.02)
        raise TimeoutError(f"haproxy does not listen on {self.address}:{self.port}\n"
                           + self.log())

    def _listening(self):
        """Whether a socket listens on our port (state 0A in /proc/net/tcp and tcp6)."""
        port = f":{self.port:04X}"
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            if any(row.split()[1].endswith(port) and row.split()[3] == "0A" for row in rows):
                return True
        return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def haproxy_factory(tmp_path):
    """Makes started Haproxy instances (arguments as Haproxy's, without the folder); stops them
    all when the test ends."""
    started = []

    def make(servers, **options):
        options.setdefault("name", f"haproxy{len(started)}")
        balancer = Haproxy(tmp_path, servers, **options).start()
        started.append(balancer)
        return balancer

    yield make
    for balancer in started:
        balancer.stop()

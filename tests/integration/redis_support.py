"""A Debian redis-server for tests: on a free loopback port, with a password, no persistence,
its own folder; stopped (and started again on the same port) by the test."""
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, folder: Path, password="cluster-secret", persistent=False):
        """`persistent`: an append-only file synced at every write, so that a restarted server
        has what it had (the shared store's tests); else it starts empty."""
        self.folder = folder
        self.persistent = persistent
        self.folder.mkdir(exist_ok=True)
        self.port = free_port()
        self.password = password
        self.process = None

    def start(self):
        log = open(self.folder / "redis.log", "ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
             "--dir", str(self.folder), "--requirepass", self.password,
             "--daemonize", "no"], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as probe:
                    probe.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                    received = b""
                    while b"PONG" not in received:
                        chunk = probe.recv(100)
                        if not chunk:
                            break
                        received += chunk
                    if b"PONG" in received:
                        return self
            except OSError:
                pass
            assert self.process.poll() is None, (self.folder / "redis.log").read_text()
            time.sleep(0.05)
        self.stop()  # the fixture's teardown does not run when its setup fails
        raise AssertionError("redis-server did not answer PING")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def cluster_settings(self, node_id, grace_ms=3000):
        return f"""
            [cluster]
            redis = "127.0.0.1:{self.port}"
            password = "{self.password}"
            node_id = "{node_id}"
            grace_ms = {grace_ms}
            reconnect_ms_max = 500
            """

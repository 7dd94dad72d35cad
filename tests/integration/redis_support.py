"""A Debian redis-server for tests: on a free loopback port, with a password, no persistence,
its own folder; stopped (and started again on the same port) by the test. With `tls`, it listens
on a TLS port only, with a certificate from a CA made here, and `StunnelClient` is the tunnel on
loopback that relayd reaches it through (docs/cluster.md, "Redis over TLS")."""
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

from conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STUNNEL = shutil.which("stunnel4") or "/usr/bin/stunnel4"
# The name in the server certificate, checked by the tunnel (not the address it connects to).
TLS_HOST = "redis.test"


def make_certificates(folder: Path):
    """A CA and a server certificate for TLS_HOST signed by it, valid for two days."""
    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=relay test Redis CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "redis.key", "-out",
            "redis.csr", "-subj", f"/CN={TLS_HOST}")
    (folder / "redis.ext").write_text(
        f"subjectAltName = DNS:{TLS_HOST}\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
        "authorityKeyIdentifier = keyid\nsubjectKeyIdentifier = hash\n")
    openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "redis.crt", "-days", "2", "-extfile", "redis.ext")


class RedisServer:
    def __init__(self, folder: Path, password="cluster-secret", persistent=False, tls=False):
        """`persistent`: an append-only file synced at every write, so that a restarted server
        has what it had (the shared store's tests); else it starts empty. `tls`: the port
        speaks TLS only (clients are not asked for a certificate); its CA is `ca_file`."""
        self.folder = folder
        self.persistent = persistent
        self.tls = tls
        self.folder.mkdir(exist_ok=True)
        self.port = free_port()
        self.password = password
        self.process = None
        self.ca_file = self.folder / "ca.crt"
        if tls:
            make_certificates(self.folder)

    def start(self):
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", str(self.folder / "redis.crt"),
                     "--tls-key-file", str(self.folder / "redis.key"),
                     "--tls-ca-cert-file", str(self.ca_file), "--tls-auth-clients", "no"]
        else:
            ports = ["--port", str(self.port)]
        log = open(self.folder / "redis.log", "ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, *ports, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
             "--dir", str(self.folder), "--requirepass", self.password,
             "--daemonize", "no"], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with self._connect(timeout=0.2) as probe:
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

    def _connect(self, timeout):
        plain = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if not self.tls:
            return plain
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context.wrap_socket(plain, server_hostname=TLS_HOST)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def cluster_settings(self, node_id, grace_ms=3000, address=None, password=None):
        """`address`: where relayd reaches this server (a tunnel's port), if not directly."""
        return f"""
            [cluster]
            redis = "{address or f'127.0.0.1:{self.port}'}"
            password = "{self.password if password is None else password}"
            node_id = "{node_id}"
            grace_ms = {grace_ms}
            reconnect_ms_max = 500
            """


class StunnelClient:
    """Debian's stunnel as a TLS client on loopback in front of a TLS-only RedisServer: relayd
    connects to `port` in plaintext, stunnel verifies the server's chain against the CA and its
    name against `host`, and carries the bytes over TLS."""

    def __init__(self, folder: Path, redis: RedisServer, host=TLS_HOST):
        self.folder = folder
        self.folder.mkdir(exist_ok=True)
        self.port = free_port()
        self.config_path = folder / "stunnel.conf"
        self.config_path.write_text(f"""foreground = yes
pid =
output = {folder / "stunnel.log"}

[redis]
client = yes
accept = 127.0.0.1:{self.port}
connect = 127.0.0.1:{redis.port}
verifyChain = yes
CAfile = {redis.ca_file}
checkHost = {host}
""")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([STUNNEL, str(self.config_path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                pass
            assert self.process.poll() is None, self.log()
            time.sleep(0.05)
        self.stop()
        raise AssertionError("stunnel did not listen\n" + self.log())

    def log(self):
        path = self.folder / "stunnel.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# Driving the nodes of a cluster test: a resource made through one node (the store is Redis's,
# so every node knows it), a login on a node, and what MAIL FROM answers there.
def add_resource(node, username, domain):
    added = node.ctl("resource", "add", username).stdout
    node.ctl("domain", "add", username, domain)
    return re.search(r"password: (\S+)", added).group(1)


def login(node, username, password):
    client = smtplib.SMTP("127.0.0.1", node.port, timeout=10)
    client.ehlo()
    client.login(username, password)
    return client


def mail_from_code(client, sender):
    code, _ = client.mail(sender)
    client.rset()
    return code

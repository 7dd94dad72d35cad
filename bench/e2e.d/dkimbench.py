"""dkimbench -- the DKIM rounds of bench/e2e: one key for both systems, OpenDKIM as Postfix's
milter, and a check that the mail each system delivered is signed and verifies.

What it is for: making one signing key per algorithm for the run (openssl genpkey: RSA-2048 or
Ed25519, PKCS#8 PEM), which relayd takes with `relayctl dkim import` and OpenDKIM reads from
its KeyTable, so that both systems sign with the same key, relaxed/relaxed, From over-signed;
running a private OpenDKIM (Debian's opendkim, signing mode) on a unix socket in the round's
folder (not TCP loopback: its milter protocol stalls there, ~90 ms per message per session),
as the postfix user so that Postfix's smtpd can reach the socket without group changes; and a
capture server that keeps a few messages whole, so that each round checks, once and cheaply,
that what the system delivered carries a DKIM-Signature that python3-dkim verifies with the
key's DNS record (made from the key file; no DNS is asked).

Runs on the benchmark's main thread, but for the capture server's thread. Untrusted bytes:
none, only the loopback peers the benchmark starts. Standards: RFC 6376, RFC 8463 (the
verification is python3-dkim's). It must never leave OpenDKIM or the capture server running:
each has a stop that bench/e2e registers with its Cleanup.
"""
import base64
import importlib.util
import os
import pwd
import re
import shutil
import socketserver
import subprocess
import threading
import time

from relaybench import BenchError, stop_process

OPENDKIM = "/usr/sbin/opendkim"
ALGORITHMS = {"rsa-2048": "rsa-sha256", "ed25519": "ed25519-sha256"}
DOMAIN = "example.com"  # loadgen's From domain
SELECTOR = "bench"


def ensure_installed():
    """Installs Debian's opendkim and python3-dkim when they are missing (bench only)."""
    have_dkim = importlib.util.find_spec("dkim") is not None
    if os.access(OPENDKIM, os.X_OK) and have_dkim:
        return
    print("installing opendkim and python3-dkim", flush=True)
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "opendkim", "python3-dkim"],
                   env=environment, check=True, stdout=subprocess.DEVNULL)
    if not os.access(OPENDKIM, os.X_OK):
        raise BenchError("opendkim is not installed after apt-get install opendkim")


def make_key(folder, algorithm):
    """A new private key (PKCS#8 PEM) in `folder`, readable by the postfix user only."""
    path = os.path.join(folder, f"{algorithm}.pem")
    options = (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
               if algorithm == "rsa-2048" else ["-algorithm", "ed25519"])
    subprocess.run(["openssl", "genpkey", *options, "-out", path], check=True,
                   capture_output=True)
    os.chmod(path, 0o600)
    return path


def dns_record_of(key_path, algorithm):
    """The key's DKIM TXT record (RFC 6376 §3.6.1; RFC 8463 §4: Ed25519's p= is the bare
    32-byte public key), made from the key file, so that the check trusts neither system."""
    der = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    if algorithm == "ed25519":
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


class OpenDkim:
    """A private OpenDKIM signing mail from example.com with one key, on a unix socket."""

    def __init__(self, folder, key_path, algorithm):
        self.folder = os.path.join(folder, "opendkim")
        os.makedirs(self.folder)
        postfix_user = pwd.getpwnam("postfix")
        key = os.path.join(self.folder, "key.pem")
        shutil.copy(key_path, key)
        self.socket_path = os.path.join(self.folder, "milter.sock")
        self.log_path = os.path.join(self.folder, "opendkim.log")
        tables = {
            "key.table": f"{SELECTOR}._domainkey.{DOMAIN} {DOMAIN}:{SELECTOR}:{key}\n",
            "signing.table": f"*@{DOMAIN} {SELECTOR}._domainkey.{DOMAIN}\n",
            "opendkim.conf": f"""\
Syslog                  no
UMask                   007
UserID                  postfix:postfix
Mode                    s
Canonicalization        relaxed/relaxed
SignatureAlgorithm      {ALGORITHMS[algorithm]}
OversignHeaders         From
Socket                  local:{self.socket_path}
PidFile                 {self.folder}/opendkim.pid
KeyTable                {self.folder}/key.table
SigningTable            refile:{self.folder}/signing.table
InternalHosts           127.0.0.1
# The key sits in a 0750 folder of the postfix user, but under /var/tmp (mode 1777), which
# OpenDKIM's safe-key check refuses: every message would be deferred.
RequireSafeKeys         no
""",
        }
        for name, text in tables.items():
            with open(os.path.join(self.folder, name), "w") as out:
                out.write(text)
        for name in os.listdir(self.folder):
            os.chown(os.path.join(self.folder, name), postfix_user.pw_uid, postfix_user.pw_gid)
        os.chown(self.folder, postfix_user.pw_uid, postfix_user.pw_gid)
        os.chmod(self.folder, 0o750)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [OPENDKIM, "-f", "-x", os.path.join(self.folder, "opendkim.conf")],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"opendkim did not start (see {self.log_path})")
            time.sleep(0.05)
        self.pid = self.process.pid

    @property
    def milter(self):
        return f"unix:{self.socket_path}"

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"opendkim exited with status {self.process.returncode} "
                             f"(see {self.log_path})")

    def stop(self):
        stop_process(self.process)


class _CaptureHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for a relay's client: no extensions, DATA only."""

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 capture ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"QUIT":
                self.reply("221 bye")
                return
            if verb == b"DATA":
                self.reply("354 go on")
                lines = []
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data == b".\r\n":
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.messages.append(b"".join(lines))
                self.reply("250 kept")
            elif verb in (b"EHLO", b"HELO"):
                self.reply("250 capture")
            else:
                self.reply("250 ok")


class CaptureServer:
    """Keeps every message it is sent, whole, in memory (a handful per round)."""

    def __init__(self, port):
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _CaptureHandler)
        self.server.daemon_threads = True
        self.server.messages = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def messages(self):
        return self.server.messages

    def wait(self, count, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while len(self.server.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.server.messages) >= count

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def check_signed(messages, algorithm, dns_record):
    """(signed and verified, total): messages whose DKIM-Signature of d=example.com with the
    algorithm verifies against the key's record."""
    import dkim

    def dnsfunc(name, timeout=5):
        wanted = f"{SELECTOR}._domainkey.{DOMAIN}"
        name = name.decode() if isinstance(name, bytes) else name
        return dns_record if name.rstrip(".").lower() == wanted else None

    verified = 0
    for data in messages:
        header = data.split(b"\r\n\r\n", 1)[0]
        fields = re.findall(rb"^DKIM-Signature:.*?(?=^\S)", header + b"\r\nX", re.M | re.S)
        for index, field in enumerate(fields):
            compact = re.sub(rb"\s+", b"", field)
            if (b"a=" + ALGORITHMS[algorithm].encode() + b";") not in compact:
                continue
            try:
                if dkim.DKIM(data).verify(idx=index, dnsfunc=dnsfunc):
                    verified += 1
                    break
            except dkim.DKIMException:
                pass
    return verified, len(messages)


class CombinedView:
    """Several process groups counted as one system (Postfix and its OpenDKIM milter)."""

    def __init__(self, views):
        self.views = views
        self.pid = views[0].pid

    def members(self):
        return [pid for view in self.views for pid in view.members()]

    def cpu_ticks(self):
        return sum(view.cpu_ticks() for view in self.views)

    def memory_kib(self):
        sums = [view.memory_kib() for view in self.views]
        return sum(rss for rss, _ in sums), sum(pss for _, pss in sums)

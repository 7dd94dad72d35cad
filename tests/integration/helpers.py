"""Shared pieces of the SMTP ingress integration tests: a raw SMTP client, and a relayd that
keeps what it accepts in its queue (delivery held) and whose [server] and [[listener]] tables can
be configured.

The raw client speaks bytes over a plain socket, so that tests can send what real clients never
would (pipelined groups, BDAT chunks, bare line endings, overlong lines) and see every reply line
exactly as relayd wrote it. Nothing here interprets a reply beyond splitting it into lines: the
tests compare codes, enhanced codes and texts themselves.
"""
import json
import re
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import RELAYCTL, Relayd, relayd_maker

QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]{16})(?:; note: [^\r\n]+)?$")
REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])(.*)$", re.S)


class Reply:
    """One SMTP reply: its code and its lines without the code (RFC 5321 §4.2)."""

    def __init__(self, code, texts):
        self.code = code
        self.texts = texts

    @property
    def text(self):
        return self.texts[-1]

    @property
    def enhanced(self):
        """The enhanced status code of the last line (RFC 2034), or None."""
        match = re.match(r"^([245]\.\d{1,3}\.\d{1,3})( |$)", self.text)
        return match.group(1) if match else None

    def __str__(self):
        return "\n".join(f"{self.code} {text}" for text in self.texts)

    def __repr__(self):
        return f"Reply({str(self)!r})"


class SmtpClient:
    """A client on a plain socket; every read has a deadline, so a silent server fails a test
    instead of hanging it."""

    def __init__(self, port, timeout=5.0, greet=True, host="127.0.0.1", source=None):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        # Each send() leaves as its own segment: tests that split data mean the split.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.greeting = self.reply() if greet else None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete reply; have {self.buffer!r}")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed; have {self.buffer!r}")
        self.buffer += chunk

    def _line(self, deadline):
        while b"\r\n" not in self.buffer:
            self._fill(deadline)
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self, timeout=None):
        """Reads one complete (possibly multi-line) reply."""
        deadline = time.monotonic() + (timeout or self.timeout)
        code = None
        texts = []
        while True:
            line = self._line(deadline)
            match = REPLY_LINE.match(line)
            assert match, f"not an SMTP reply line: {line!r}"
            assert code in (None, match.group(1)), f"code changed inside a reply: {line!r}"
            code = match.group(1)
            texts.append(match.group(3).decode("utf-8"))
            if match.group(2) == b" ":
                return Reply(int(code), texts)

    def replies(self, count, timeout=None):
        return [self.reply(timeout) for _ in range(count)]

    def command(self, line, timeout=None):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply(timeout)

    def ehlo(self, name="client.test"):
        reply = self.command(f"EHLO {name}")
        assert reply.code == 250, reply
        return reply

    def expect(self, line, code, enhanced=None):
        """Sends a command; asserts its reply's code (and enhanced code). Returns the reply."""
        reply = self.command(line)
        assert reply.code == code, f"{line!r}: {reply}"
        if enhanced is not None:
            assert reply.enhanced == enhanced, f"{line!r}: {reply}"
        return reply

    def envelope(self, sender="sender@example.com", recipients=("rcpt@example.net",)):
        """MAIL and RCPT, each expected to succeed."""
        self.expect(f"MAIL FROM:<{sender}>", 250, "2.1.0")
        for recipient in recipients:
            self.expect(f"RCPT TO:<{recipient}>", 250, "2.1.5")

    def data(self, stuffed):
        """DATA, then `stuffed` (dot-stuffed, ending in CRLF.CRLF); returns the final reply."""
        self.expect("DATA", 354)
        self.send(stuffed)
        return self.reply()

    def closed(self, timeout=3.0):
        """True when the server closes the connection within `timeout` and sends nothing more.
        Bytes that arrive first are a failure: they would be replies nobody asked for."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return not self.buffer
            if not chunk:
                return not self.buffer
            self.buffer += chunk
            return False
        return False

    def silent(self, wait=0.3):
        """True when nothing arrives within `wait` seconds (and the connection stays open)."""
        if self.buffer:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        self.buffer += chunk
        return False


def queue_id_of(reply):
    match = QUEUED.match(f"{reply.code} {reply.text}")
    assert match, f"not a queued reply: {reply}"
    return match.group(1)


def stuff(message):
    """Dot-stuffs a message whose lines end in CRLF and appends the terminator (RFC 5321
    §4.5.2)."""
    assert message == b"" or message.endswith(b"\r\n")
    lines = message.split(b"\r\n")[:-1] if message else []
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                    for line in lines) + b".\r\n"


def simple_message(subject="test", body=b"Hello.\r\n"):
    return (f"From: <sender@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: {subject}\r\n"
            "\r\n").encode() + body


class Ctl:
    """relayctl on a config file of its own in `folder`: `ok` expects exit 0 and gives stdout,
    `json` adds --json, `error` expects `status` and gives the one-line message (status 1)."""

    def __init__(self, folder, config_text):
        self.folder = folder
        self.config = folder / "relayd.toml"
        self.config.write_text(config_text)

    def run(self, *arguments):
        return subprocess.run([str(RELAYCTL), "--config", str(self.config), *arguments],
                              capture_output=True, text=True, timeout=60)

    def ok(self, *arguments):
        result = self.run(*arguments)
        assert result.returncode == 0, f"relayctl {' '.join(arguments)}: {result.stderr}"
        return result.stdout

    def json(self, *arguments):
        return json.loads(self.ok(*arguments, "--json"))

    def error(self, *arguments, status=1):
        result = self.run(*arguments)
        assert result.returncode == status, (arguments, result.returncode, result.stdout)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        if status == 1:
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith("relayctl: ")
            return lines[0][len("relayctl: "):]
        return result.stderr


def memory_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS: now, VmHWM: the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid):
    """Starts a new peak measurement (writing 5 to clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def wait_until(condition, timeout=10.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{message} not met after {timeout}s")


# Delivery would take accepted messages out of the queue (delivered, or bounced when the test
# domains do not resolve); these tests look at the queue, so every domain is routed to a port
# nothing listens on (1: only root could bind it) and the one retry is an hour away.
HOLD_DELIVERY = """
[delivery]
retry_schedule_s = [3600]

[[route]]
domain = "*"
host = "127.0.0.1:1"
"""


class QueuedRelayd(Relayd):
    """A relayd that keeps what it accepts in its queue (see HOLD_DELIVERY), and whose [server]
    and [[listener]] tables can get extra keys (`server`, `listener`: TOML lines; `server`
    replaces the default shutdown_grace_s = 5). `settings` is appended after the [spool] table
    (so bare keys there are [spool] keys), as with Relayd."""

    def __init__(self, folder, settings="", workers=2, listener="", server=""):
        self.listener_settings = textwrap.dedent(listener)
        self.server_settings = textwrap.dedent(server)
        super().__init__(folder, settings, workers)

    def write_config(self, settings, workers):
        base = textwrap.dedent(f"""
            [server]
            hostname = "relay.test"
            workers = {workers}
            """) + (self.server_settings or "shutdown_grace_s = 5\n") + textwrap.dedent(f"""
            [[listener]]
            name = "test"
            address = "127.0.0.1:{self.port}"
            """) + self.listener_settings + textwrap.dedent("""
            [spool]
            path = "spool"
            """)
        self.config_path.write_text(base + textwrap.dedent(settings) + HOLD_DELIVERY)


# conftest's relayd_factory and relayd fixtures with QueuedRelayd: delivery held, and
# `listener=` and `server=` keyword arguments. A test module takes them with
# `from helpers import relayd, relayd_factory`.
@pytest.fixture
def relayd_factory(tmp_path):
    yield from relayd_maker(tmp_path, QueuedRelayd)


@pytest.fixture
def relayd(relayd_factory):
    return relayd_factory()

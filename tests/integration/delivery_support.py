"""Shared pieces of the delivery integration tests: receiving SMTP servers, a DNS server, and
helpers to submit mail to relayd and read what arrived.

Everything runs on loopback. Receivers are aiosmtpd servers (Debian's python3-aiosmtpd) bound to
127.0.0.2, 127.0.0.3, ... on one port per test, which becomes relayd's `[delivery] port`; a
dnsmasq in authoritative mode for the zone "test" answers relayd's MX, A and AAAA queries
(NXDOMAIN for unknown names, NODATA for missing types, as a real authoritative server does).

A receiver is configured per test: the extensions it offers (aiosmtpd offers no CHUNKING;
PIPELINING is added by default, as real servers offer it), SMTPUTF8 on or off, STARTTLS (working
with a certificate, advertised but refused with 454, or advertised and then broken mid-handshake),
scripted replies per recipient and per message, greylisting, and a delay before answering the
data. It records every accepted transaction with the exact bytes it received (after
dot-unstuffing), and every RCPT it answered.

Run through meson or by hand:
    RELAY_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/integration -k delivery
"""
import asyncio
import email
import email.parser
import email.policy
import json
import logging
import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
from aiosmtpd.smtp import SMTP

from conftest import free_port
from helpers import SmtpClient, queue_id_of, stuff, wait_until

# aiosmtpd logs every failed handshake with a traceback; the tests look at outcomes instead.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


# ---------------------------------------------------------------------------------------------
# One asyncio loop, in a daemon thread, runs every receiver and spy of the test process.

class ReceiverLoop:
    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="receivers", daemon=True)
        self.thread.start()
        assert started.wait(10)

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = ReceiverLoop()
            return cls._instance

    def run(self, coroutine, timeout=10):
        """Runs a coroutine on the loop and returns its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


# ---------------------------------------------------------------------------------------------
# Receivers

@dataclass
class Received:
    """One transaction a receiver accepted (250 to the data)."""
    mail_from: str
    recipients: list
    mail_options: list
    data: bytes  # as received, dot-unstuffed, ending in CRLF
    tls: bool    # the session ran over TLS (after STARTTLS)
    tls_version: str
    helo: str
    peer: str
    connection: int  # which connection of this receiver (1, 2, ...)
    at: float = 0.0  # time.monotonic() when it was accepted

    @property
    def message_id(self):
        return message_id_of(self.data)


@dataclass
class RcptEvent:
    """One RCPT command and the reply it got."""
    mail_from: str
    address: str
    reply: str
    connection: int
    transaction: int  # which MAIL of this receiver (1, 2, ...)


def message_id_of(data):
    match = re.search(rb"^Message-ID:\s*(<[^>\r\n]*>)", data, re.I | re.M)
    return match.group(1).decode() if match else None


class _Session(SMTP):
    """aiosmtpd's SMTP with a STARTTLS that can be made to fail after its 220."""

    def __init__(self, receiver, *args, **kwargs):
        self.receiver = receiver
        super().__init__(*args, **kwargs)

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.receiver.sessions.add(self)
            self.receiver.concurrent_max = max(self.receiver.concurrent_max,
                                               len(self.receiver.sessions))
            self.receiver.connections += 1
            self.session.connection_number = self.receiver.connections
        else:
            # After STARTTLS aiosmtpd starts a new session object on the same connection.
            self.session.connection_number = self.receiver.connections

    def connection_lost(self, error):
        self.receiver.sessions.discard(self)
        super().connection_lost(error)

    async def smtp_STARTTLS(self, arg):
        mode = self.receiver.starttls
        if mode == "hangup":
            # Promises TLS, then hangs up before any handshake.
            self.receiver.tls_broken += 1
            await self.push("220 2.0.0 Ready to start TLS")
            self.transport.close()
            return
        if mode == "garbage":
            # Promises TLS, reads the ClientHello, answers bytes that are no TLS record, and
            # leaves closing to the client.
            self.receiver.tls_broken += 1
            await self.push("220 2.0.0 Ready to start TLS")
            await self._reader.read(4096)
            self.transport.write(b"this is not a TLS handshake\r\n")
            while await self._reader.read(4096):
                pass
            self.transport.close()
            return
        if mode == "refuse":
            self.receiver.tls_refused += 1
            await self.push("454 4.7.0 TLS not available due to temporary reason")
            return
        await super().smtp_STARTTLS(arg)


class Receiver:
    """A receiving SMTP server on ADDRESS:PORT.

    starttls: None (not offered), "ok" (offered, works; needs cert and key), "refuse"
        (offered, answers 454), "garbage" (answers 220, then non-TLS bytes to the ClientHello),
        "hangup" (answers 220, then closes the connection).
    rcpt_script: {address: [reply, ...]}: the n-th RCPT of that address gets the n-th reply
        (the last one repeats); a reply starting with "2" accepts.
    data_script: {message-id or "*": [reply, ...]}: same, for the reply to the data.
    greylist: the first RCPT of each new (client IP, sender, recipient) gets 451 4.7.1.
    data_delay_s: wait this long before answering the data.
    hold() / release(): answers to the data wait while held.
    """

    def __init__(self, address, port, *, smtputf8=True, pipelining=True, starttls=None,
                 cert=None, key=None, rcpt_script=None, data_script=None, greylist=False,
                 data_delay_s=0.0, hostname=None):
        self.address = address
        self.port = port
        self.smtputf8 = smtputf8
        self.pipelining = pipelining
        self.starttls = starttls
        self.rcpt_script = {k.lower(): list(v) for k, v in (rcpt_script or {}).items()}
        self.data_script = dict(data_script or {})
        self.greylist = greylist
        self.data_delay_s = data_delay_s
        self.hostname = hostname or f"mx-{address}.receiver.test"
        self._gate = None  # an asyncio.Event while held
        self.received = []
        self.rcpt_events = []
        self.sessions = set()
        self.connections = 0
        self.concurrent_max = 0  # the most sessions open at once
        self.transactions = 0
        self.tls_broken = 0
        self.tls_refused = 0
        self._rcpt_counts = {}
        self._data_counts = {}
        self._greylisted = set()
        self._lock = threading.Lock()
        self.tls_context = None
        if starttls == "ok":
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(str(cert), str(key))
        self.loop = ReceiverLoop.get()
        self.server = None
        self.start()

    # -- life cycle

    def start(self):
        async def listen():
            return await self.loop.loop.create_server(self._protocol, self.address, self.port,
                                                      reuse_address=True)
        self.server = self.loop.run(listen())
        return self

    def stop(self):
        """Stops listening and drops every open connection."""
        if self.server is None:
            return
        server, self.server = self.server, None

        async def close():
            server.close()
            for session in list(self.sessions):
                if session.transport is not None:
                    session.transport.abort()
            await server.wait_closed()
        self.loop.run(close(), timeout=5)

    def _protocol(self):
        return _Session(self, _Handler(self), hostname=self.hostname,
                        enable_SMTPUTF8=self.smtputf8, decode_data=False,
                        tls_context=self.tls_context, data_size_limit=None,
                        loop=self.loop.loop, timeout=60)

    def hold(self):
        """Answers to the data wait until release(): transactions pile up in flight."""
        async def close_gate():
            self._gate = asyncio.Event()
        self.loop.run(close_gate())

    def release(self):
        async def open_gate():
            gate, self._gate = self._gate, None
            if gate is not None:
                gate.set()
        self.loop.run(open_gate())

    # -- what tests read

    def message_ids(self):
        with self._lock:
            return [received.message_id for received in self.received]

    def wait_for(self, count, timeout=15.0, what=None):
        """Waits until at least `count` transactions were accepted; returns them all."""
        wait_until(lambda: len(self.received) >= count, timeout=timeout,
                   message=what or f"{count} message(s) at {self.address}")
        with self._lock:
            return list(self.received)

    def rcpts(self, address):
        return [event for event in self.rcpt_events if event.address.lower() == address.lower()]

    # -- scripted replies

    def _next(self, table, counts, key):
        replies = table.get(key)
        if not replies:
            return None
        count = counts.get(key, 0)
        counts[key] = count + 1
        return replies[min(count, len(replies) - 1)]

    def rcpt_reply(self, session, envelope, address):
        with self._lock:
            reply = self._next(self.rcpt_script, self._rcpt_counts, address.lower())
            if reply is None and self.greylist:
                triple = (session.peer[0], envelope.mail_from, address.lower())
                if triple not in self._greylisted:
                    self._greylisted.add(triple)
                    reply = "451 4.7.1 Greylisted, please try again later"
            return reply or "250 2.1.5 Ok"

    def data_reply(self, message_id):
        with self._lock:
            reply = self._next(self.data_script, self._data_counts, message_id)
            if reply is None:
                reply = self._next(self.data_script, self._data_counts, "*")
            return reply or "250 2.0.0 Ok: queued"


def _reverse_path(mail_from):
    return "" if mail_from == "<>" else mail_from


class _Handler:
    def __init__(self, receiver):
        self.receiver = receiver

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        receiver = self.receiver
        keep = [line for line in responses if not line[4:].upper().startswith("HELP")]
        if receiver.pipelining:
            keep.insert(1, "250-PIPELINING")
        if receiver.starttls in ("refuse", "garbage", "hangup") and server._tls_protocol is None:
            keep.insert(1, "250-STARTTLS")
        keep.append("250 ENHANCEDSTATUSCODES")
        return [line[:3] + "-" + line[4:] for line in keep[:-1]] + [keep[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.receiver._lock:
            self.receiver.transactions += 1
            session.transaction_number = self.receiver.transactions
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it non-empty
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.receiver.rcpt_reply(session, envelope, address)
        self.receiver.rcpt_events.append(RcptEvent(
            _reverse_path(envelope.mail_from), address, reply, session.connection_number,
            getattr(session, "transaction_number", 0)))
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_DATA(self, server, session, envelope):
        receiver = self.receiver
        if receiver._gate is not None:
            await receiver._gate.wait()
        if receiver.data_delay_s:
            await asyncio.sleep(receiver.data_delay_s)
        data = envelope.original_content
        reply = receiver.data_reply(message_id_of(data))
        if reply.startswith("2"):
            tls = session.ssl is not None
            version = ""
            if tls:
                ssl_object = session.ssl.get("ssl_object")
                version = ssl_object.version() if ssl_object else "?"
            with receiver._lock:
                receiver.received.append(Received(
                    _reverse_path(envelope.mail_from), list(envelope.rcpt_tos),
                    list(envelope.mail_options), data, tls, version, session.host_name or "",
                    session.peer[0], session.connection_number, time.monotonic()))
        return reply


# ---------------------------------------------------------------------------------------------
# A TCP proxy that records what the client sends (to see which commands relayd used).

class TcpSpy:
    def __init__(self, target_port, address="127.0.0.1", target_address="127.0.0.1"):
        self.target = (target_address, target_port)
        self.client_bytes = bytearray()
        self.loop = ReceiverLoop.get()
        self.server = self.loop.run(self.loop.loop.create_server(
            lambda: _SpyProtocol(self), address, 0))
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self):
        async def close():
            self.server.close()
        self.loop.run(close())


class _SpyProtocol(asyncio.Protocol):
    def __init__(self, spy):
        self.spy = spy
        self.upstream = None
        self.pending = bytearray()

    def connection_made(self, transport):
        self.transport = transport
        asyncio.get_event_loop().create_task(self._connect())

    async def _connect(self):
        loop = asyncio.get_event_loop()
        try:
            _, self.upstream = await loop.create_connection(
                lambda: _SpyUpstream(self.transport), *self.spy.target)
        except OSError:
            self.transport.close()
            return
        if self.pending:
            self.upstream.transport.write(bytes(self.pending))
            self.pending.clear()

    def data_received(self, data):
        self.spy.client_bytes += data
        if self.upstream is None:
            self.pending += data
        else:
            self.upstream.transport.write(data)

    def connection_lost(self, exc):
        if self.upstream is not None:
            self.upstream.transport.close()


class _SpyUpstream(asyncio.Protocol):
    def __init__(self, downstream):
        self.downstream = downstream

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.downstream.write(data)

    def connection_lost(self, exc):
        self.downstream.close()


# ---------------------------------------------------------------------------------------------
# DNS

class Dnsmasq:
    """dnsmasq, authoritative for the zone "test", on 127.0.0.1:PORT (UDP and TCP).

    mx: [(domain, host, preference)], host "." makes a null MX (RFC 7505).
    hosts: [(name, address)] A records.
    txt: [(name, [string, ...])] TXT records, each string at most 255 octets and without commas.
    ttl: the TTL of every answer, seconds (dnsmasq's default otherwise).
    port: the port to listen on (a free one otherwise).
    """

    BINARY = "/usr/sbin/dnsmasq"

    def __init__(self, folder, mx=(), hosts=(), zone="test", ttl=None, txt=(), port=None):
        self.folder = Path(folder)
        self.log_path = self.folder / "dnsmasq.log"
        arguments = [f"--auth-zone={zone}", f"--auth-server=ns.{zone},127.0.0.1"]
        arguments += [f"--mx-host={domain},{host},{preference}"
                      for domain, host, preference in mx]
        arguments += [f"--host-record={name},{address}" for name, address in hosts]
        arguments += [f"--txt-record={name}," + ",".join(strings)
                      for name, strings in txt]
        if ttl is not None:
            arguments += [f"--auth-ttl={ttl}", f"--local-ttl={ttl}"]
        for _ in range(5):
            # A fixed port: a restarted server with other records, for a relayd that keeps it.
            self.port = port or free_port()
            log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [self.BINARY, "--no-daemon", "--keep-in-foreground", "--user=root",
                 f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                 "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--log-queries",
                 *arguments], stdout=log, stderr=log)
            log.close()
            if self._ready():
                return
            self.stop()
        raise AssertionError("dnsmasq did not start:\n" + self.log())

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _ready(self):
        """True once dnsmasq answers the SOA query of its zone."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                dns.query.udp(dns.message.make_query("test", "SOA"), "127.0.0.1",
                              port=self.port, timeout=0.2)
                return True
            except Exception:  # noqa: BLE001 -- not up yet
                time.sleep(0.02)
        return False

    def mx(self, domain):
        """The MX records dnsmasq serves for `domain`: [(preference, host)]."""
        answer = dns.query.udp(dns.message.make_query(domain, "MX"), "127.0.0.1",
                               port=self.port, timeout=2)
        return sorted((record.preference, record.exchange.to_text())
                      for rrset in answer.answer for record in rrset)

    def queries(self, kind, name):
        """How many `kind` ("MX", "A", ...) queries for `name` dnsmasq has logged."""
        return self.log().count(f"[{kind}] {name} from")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------------------------------------
# relayd settings, submission, and reading what arrived

def delivery_settings(dns=None, port=25, *, tls=None, retry="[1]", ca_file=None, extra="",
                      routes=()):
    """TOML for [delivery] (and [[route]] tables) to append to relayd's minimal config.
    routes: [(domain, "IP:PORT")] or [(domain, "IP:PORT", "extra TOML lines")]."""
    lines = ["[delivery]"]
    if dns is not None:
        lines.append(f'resolvers = ["{dns.address}"]')
    lines += [f"port = {port}", f"retry_schedule_s = {retry}", "dns_timeout_ms = 500",
              "connect_timeout_s = 5"]
    if tls is not None:
        lines.append(f'tls = "{tls}"')
    if ca_file is not None:
        lines.append(f'ca_file = "{ca_file}"')
    if extra:
        lines.append(extra.strip())
    for route in routes:
        lines += ["", "[[route]]", f'domain = "{route[0]}"', f'host = "{route[1]}"']
        if len(route) > 2:
            lines.append(route[2])
    return "\n".join(lines) + "\n"


def message_bytes(subject="test", sender="sender@sender.test", to="rcpt@example.test",
                  body=b"Hello.\r\n", message_id=None, extra_headers=b""):
    """A small message with a unique Message-ID (relayd then adds none)."""
    message_id = message_id or f"<{time.monotonic_ns()}.{subject.replace(' ', '-')}@client.test>"
    header = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
              f"Message-ID: {message_id}\r\nDate: Sat, 28 Nov 2026 03:45:52 +0000\r\n")
    return header.encode("utf-8") + extra_headers + b"\r\n" + body


BODY_PIECE_BYTES = 64 * 1024  # tests that use large_message set delivery.body_piece_bytes to it


def large_message(subject, to, size=3 * 1024 * 1024):
    """About `size` octets whose stored bytes put what dot-stuffing must get right where relayd
    cuts the body into pieces: a line that starts with '.' at the start of a piece, a CRLF split
    between two pieces followed by a line that starts with '.', a '.' in the middle of a line at
    the start of a piece, a lone '.' line at the start of a piece; then dotted lines throughout."""
    data = bytearray(message_bytes(subject, to=to, body=b""))

    def fill_to(offset):
        """Lines of 'x' so that the next line starts at `offset`."""
        while offset - len(data) > 80:
            data.extend(b"x" * 38 + b"\r\n")
        gap = offset - len(data)
        assert gap == 0 or gap >= 2, gap
        if gap:
            data.extend(b"x" * (gap - 2) + b"\r\n")

    piece = BODY_PIECE_BYTES
    fill_to(piece)
    data.extend(b".a dot at the start of a piece\r\n")
    fill_to(2 * piece - 5)
    data.extend(b"abcd\r\n.after a CRLF split between two pieces\r\n")
    assert data[2 * piece - 1:2 * piece + 2] == b"\r\n."
    fill_to(3 * piece - 3)
    data.extend(b"abc.def: a dot mid-line at the start of a piece\r\n")
    fill_to(4 * piece)
    data.extend(b".\r\n")
    line = 0
    while len(data) < size:
        data.extend(b".line %d, a dot first\r\n%s\r\n" % (line, b"y" * (line % 70)))
        line += 1
    return bytes(data)


def submit(relayd, sender, recipients, data, smtputf8=False, eight_bit=False):
    """One transaction with DATA; returns the queue id."""
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        options = (" SMTPUTF8" if smtputf8 else "") + (" BODY=8BITMIME" if eight_bit else "")
        client.expect(f"MAIL FROM:<{sender}>{options}", 250)
        for recipient in recipients:
            client.expect(f"RCPT TO:<{recipient}>", 250)
        reply = client.data(stuff(data))
        client.expect("QUIT", 221)
        return queue_id_of(reply)


def submit_bdat(relayd, sender, recipients, data):
    """One transaction with BDAT LAST (the data may end without CRLF); returns the queue id."""
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.expect(f"MAIL FROM:<{sender}>", 250)
        for recipient in recipients:
            client.expect(f"RCPT TO:<{recipient}>", 250)
        client.send(b"BDAT %d LAST\r\n" % len(data) + data)
        reply = client.reply()
        client.expect("QUIT", 221)
        return queue_id_of(reply)


HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:[^\r\n]*|[ \t][^\r\n]*)$")


def strip_prefix(received, original):
    """Splits delivered bytes into the header fields relayd prepended and the rest, which must
    start with the original's first line. Asserts the prepended part is whole header fields,
    the first of them Received:. Returns (prefix, rest)."""
    first_line = original.split(b"\r\n", 1)[0] + b"\r\n"
    at = received.find(b"\r\n" + first_line)
    assert at >= 0, f"the original message's first line is not in {received[:400]!r}"
    prefix, rest = received[:at + 2], received[at + 2:]
    assert prefix.startswith(b"Received: "), prefix
    for line in prefix[:-2].split(b"\r\n"):
        assert HEADER_LINE.match(line), f"not a header line in the prepended part: {line!r}"
    return prefix, rest


def parse_dsn(data):
    """Parses a DSN (RFC 3464 inside RFC 6522): returns (message, per_message_fields,
    [per_recipient_fields], original_headers_text). Field names are lower case."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    assert message.get_content_type() == "multipart/report", message.get_content_type()
    assert message.get_param("report-type") == "delivery-status", message["Content-Type"]
    status_part = headers_part = None
    for part in message.get_payload():
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            status_part = part
        elif kind in ("text/rfc822-headers", "message/global-headers", "message/rfc822"):
            headers_part = part
    assert status_part is not None, "no delivery-status part"
    blocks = _status_blocks(status_part)
    assert len(blocks) >= 2, blocks
    original = ""
    if headers_part is not None:
        original = _body_text(headers_part)
    return message, blocks[0], blocks[1:], original


def _body_text(part):
    text = part.as_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


def _status_blocks(part):
    body = _body_text(part)
    blocks = []
    for chunk in re.split(r"\n\s*\n", body.strip("\n")):
        if not chunk.strip():
            continue
        fields = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(chunk + "\n")
        blocks.append({name.lower(): " ".join(str(value).split()) for name, value
                       in fields.items()})
    return blocks


def make_certificate(folder, name):
    """A self-signed certificate for host `name` (also its own CA) with the openssl CLI.
    Returns (certificate path, key path)."""
    folder = Path(folder)
    cert = folder / f"{name}.crt"
    key = folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def loopback_port():
    """A port free on every loopback address (receivers use it on 127.0.0.2, 127.0.0.3, ...)."""
    return free_port()


# ---------------------------------------------------------------------------------------------
# One test's network: receivers on 127.0.0.N:PORT, dnsmasq, relayd configured for both.

SENDER = "sender@sender.test"  # its domain's MX is the sender box, 127.0.0.9
SENDER_BOX = "127.0.0.9"


class Network:
    def __init__(self, folder, relayd_factory):
        self.folder = Path(folder)
        self.factory = relayd_factory
        self.port = loopback_port()
        self.receivers = []
        self.spies = []
        self.dns = None
        self._sender_box = None

    def receiver(self, address, **options):
        receiver = Receiver(address, self.port, **options)
        self.receivers.append(receiver)
        return receiver

    def sender_box(self):
        """The receiver of the sender's domain, where DSNs arrive."""
        if self._sender_box is None:
            self._sender_box = self.receiver(SENDER_BOX, hostname="mx.sender.test")
        return self._sender_box

    def dnsmasq(self, mx=(), hosts=(), ttl=None):
        """Starts the DNS server; sender.test always has MX mx.sender.test -> 127.0.0.9."""
        mx = [("sender.test", "mx.sender.test", 10), *mx]
        hosts = [("mx.sender.test", SENDER_BOX), *hosts]
        self.dns = Dnsmasq(self.folder, mx, hosts, ttl=ttl)
        return self.dns

    def relayd(self, name="relayd", workers=2, start=True, **options):
        settings = delivery_settings(self.dns, self.port, **options)
        relayd = self.factory(settings=settings, workers=workers, start=start, name=name)
        if start:
            wait_ready(relayd)
        return relayd

    def spy(self, target_port):
        spy = TcpSpy(target_port)
        self.spies.append(spy)
        return spy

    def close(self):
        try:
            for receiver in self.receivers:
                receiver.stop()
            for spy in self.spies:
                spy.stop()
        finally:
            if self.dns is not None:
                self.dns.stop()


def network_fixture(tmp_path, relayd_factory):
    """Generator behind the `net` fixture of the delivery test modules:
        @pytest.fixture
        def net(tmp_path, relayd_factory):
            yield from network_fixture(tmp_path, relayd_factory)
    """
    network = Network(tmp_path, relayd_factory)
    try:
        yield network
    finally:
        network.close()


def wait_ready(relayd):
    """Waits for relayd's "relayd started" line: its listeners take mail a little earlier, but
    only from then on does its control socket (relayctl queue retry|delete|bounce) exist."""
    wait_until(lambda: "relayd started" in relayd.log(), timeout=10,
               message="relayd's start-up line")


def queue_entry(relayd, queue_id):
    """`relayctl queue show ID --json`, or None when the message is no longer queued."""
    result = relayd.ctl("queue", "show", queue_id, "--json", check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)


def wait_gone(relayd, queue_id, timeout=15.0):
    """Waits until the message has left relayd's queue (delivered or bounced)."""
    try:
        wait_until(lambda: queue_id not in relayd.queue(), timeout=timeout,
                   message=f"{queue_id} to leave the queue")
    except TimeoutError as error:
        raise AssertionError(f"{error}; relayd's log ends with:\n{relayd.log()[-3000:]}")


def wait_attempted(relayd, queue_id, attempts=1, timeout=10.0):
    """Waits until `relayctl queue show` counts `attempts` deferred attempts; returns the entry."""
    def attempted():
        entry = queue_entry(relayd, queue_id)
        return entry if entry is not None and entry["attempts"] >= attempts else None
    return wait_until(attempted, timeout=timeout,
                      message=f"{queue_id}: {attempts} attempt(s) in `relayctl queue show`")

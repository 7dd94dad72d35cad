"""test_smtp_tls.py -- inbound TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with real
clients, and what a hostile or broken client can and cannot do with them.

relayd listens three times: STARTTLS on `port`, implicit TLS on `implicit_port`, plaintext on
`plain_port`, with a self-signed certificate for relay.test made here with the openssl CLI. The
clients are swaks (--tls, --tlsc), Python's smtplib and ssl, and `openssl s_client`; the raw
client of helpers.py, wrapped in TLS after the 220, sends what real clients would not (plaintext
pipelined behind STARTTLS, garbage instead of a ClientHello, half a handshake). A large message
goes through TLS to a receiving server and is compared byte for byte.
"""
import os
import random
import re
import smtplib
import socket
import ssl
import subprocess
import textwrap
import time

import pytest

from conftest import SANITIZED, Relayd, free_port, relayd_maker, RELAYD
from delivery_support import (Receiver, delivery_settings, large_message, loopback_port,
                              make_certificate, message_bytes, strip_prefix, wait_gone)
from helpers import (HOLD_DELIVERY, SmtpClient, memory_kib, queue_id_of, reset_peak,
                     simple_message, stuff, wait_until)

HOST = "relay.test"
HANDSHAKE_TIMEOUT_S = 2


class TlsRelayd(Relayd):
    """relayd with a STARTTLS, an implicit-TLS and a plaintext listener. `settings` is appended
    after [spool]; without a [delivery] table in it, delivery is held (HOLD_DELIVERY)."""

    def __init__(self, folder, settings="", workers=2, certificate=None):
        self.certificate = certificate
        self.implicit_port = free_port()
        self.plain_port = free_port()
        super().__init__(folder, settings, workers)

    def write_config(self, settings, workers):
        cert, key = self.certificate
        base = textwrap.dedent(f"""
            [server]
            hostname = "{HOST}"
            workers = {workers}
            shutdown_grace_s = 5

            [[listener]]
            name = "submission"
            address = "127.0.0.1:{self.port}"
            tls = "starttls"

            [[listener]]
            name = "smtps"
            address = "127.0.0.1:{self.implicit_port}"
            tls = "implicit"

            [[listener]]
            name = "plain"
            address = "127.0.0.1:{self.plain_port}"

            [tls]
            certificate_chain_file = "{cert}"
            private_key_file = "{key}"
            handshake_timeout_s = {HANDSHAKE_TIMEOUT_S}

            [spool]
            path = "spool"
            """)
        settings = textwrap.dedent(settings)
        if "[delivery]" not in settings:
            settings += HOLD_DELIVERY
        self.config_path.write_text(base + settings)

    def start(self, wait=True):
        super().start(wait)
        if wait:
            wait_until(lambda: "relayd started" in self.log(), timeout=10,
                       message="relayd's start-up line")
        return self


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("inbound-tls"), HOST)


@pytest.fixture
def relayd_factory(tmp_path, certificate):
    for made in relayd_maker(tmp_path, TlsRelayd):
        def make(settings="", workers=2, start=True, name="relayd"):
            return made(settings, workers, start, name, certificate=certificate)
        yield make


@pytest.fixture
def relayd(relayd_factory):
    return relayd_factory()


def client_context(certificate, check_hostname=True):
    """Verifies relayd's certificate against itself: the test also checks what is presented.
    smtplib names the server by the address it connected to: it gets check_hostname=False (the
    chain is still verified)."""
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = check_hostname
    return context


def starttls(client, certificate):
    """STARTTLS on a raw client, then the handshake; the client then speaks through TLS."""
    reply = client.command("STARTTLS")
    assert (reply.code, reply.enhanced) == (220, "2.0.0"), reply
    assert client.buffer == b"", "nothing may follow the 220 in plaintext"
    client.sock = client_context(certificate).wrap_socket(client.sock, server_hostname=HOST)
    return client


def implicit_client(relayd, certificate, timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", relayd.implicit_port), timeout=timeout)
    client = SmtpClient.__new__(SmtpClient)
    client.timeout = timeout
    client.sock = client_context(certificate).wrap_socket(sock, server_hostname=HOST)
    client.buffer = b""
    client.greeting = client.reply()
    return client


def swaks(*arguments):
    return subprocess.run(["swaks", "--from", "sender@example.com", "--to", "rcpt@example.net",
                           "--timeout", "10", *arguments],
                          capture_output=True, text=True, timeout=30)


def queued_ids(output):
    return re.findall(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{16})", output)


def closed_by_server(sock, timeout=5.0):
    """Reads until relayd closes; returns the seconds it took (None if it never did)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return time.monotonic() - started
    except (ConnectionResetError, ssl.SSLError):
        return time.monotonic() - started
    except socket.timeout:
        return None


# ---- real clients ----------------------------------------------------------------------------

def test_swaks_starttls_submits_a_message(relayd):
    result = swaks("--server", f"127.0.0.1:{relayd.port}", "--tls")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TLS started with cipher TLSv1.3" in result.stdout, result.stdout
    assert f'TLS peer DN="/CN={HOST}"' in result.stdout, result.stdout
    [queue_id] = queued_ids(result.stdout)
    assert queue_id in relayd.queue()


def test_swaks_tlsc_submits_on_the_implicit_listener(relayd):
    result = swaks("--server", f"127.0.0.1:{relayd.implicit_port}", "--tlsc")
    assert result.returncode == 0, result.stdout + result.stderr
    # The greeting arrives inside TLS: swaks reports the handshake before it.
    assert result.stdout.index("TLS started") < result.stdout.index(f"220 {HOST} ESMTP")
    assert "STARTTLS" not in result.stdout.split("EHLO", 1)[1], "no STARTTLS inside TLS"
    [queue_id] = queued_ids(result.stdout)
    assert queue_id in relayd.queue()


def test_swaks_tls_on_a_plaintext_listener_is_told_no(relayd):
    result = swaks("--server", f"127.0.0.1:{relayd.plain_port}", "--tls")
    assert result.returncode != 0
    assert not queued_ids(result.stdout)


def test_smtplib_starttls_then_ehlo_again(relayd, certificate):
    with smtplib.SMTP("127.0.0.1", relayd.port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=client_context(certificate, check_hostname=False))
        assert code == 220
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.ehlo("client.test")
        assert not client.has_extn("starttls"), "STARTTLS is not offered inside TLS"
        refused = client.sendmail("sender@example.com", ["rcpt@example.net"],
                                  simple_message("over smtplib"))
        assert refused == {}
    assert len(relayd.queue()) == 1


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_sees_the_certificate_and_the_version(relayd, certificate, version):
    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{relayd.port}",
                             "-starttls", "smtp", "-servername", HOST, "-CAfile",
                             str(certificate[0]), version],
                            input="QUIT\r\n", capture_output=True, text=True, timeout=20)
    output = result.stdout
    assert f"subject=CN = {HOST}" in output, output
    assert "Verify return code: 0 (ok)" in output, output
    expected = "TLSv1.2" if version == "-tls1_2" else "TLSv1.3"
    assert re.search(rf"Protocol *: {expected}|New, {expected}", output), output


def test_tls_1_1_is_refused(relayd):
    result = subprocess.run(["openssl", "s_client", "-connect",
                             f"127.0.0.1:{relayd.implicit_port}", "-tls1_1", "-cipher",
                             "DEFAULT@SECLEVEL=0"],
                            input="", capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "alert protocol version" in result.stdout + result.stderr, result.stdout + result.stderr
    wait_until(lambda: "TLS handshake failed" in relayd.log(), timeout=5,
               message="relayd to log the refused handshake")
    # And relayd still serves TLS 1.2+.
    assert swaks("--server", f"127.0.0.1:{relayd.implicit_port}", "--tlsc").returncode == 0


# ---- what STARTTLS forgets and refuses -------------------------------------------------------

@pytest.mark.parametrize("injected, probe, expected", [
    # RSET would answer 250: the first reply inside TLS must be HELP's 214.
    (b"RSET\r\n", "HELP", 214),
    # An injected MAIL must not start a transaction inside TLS.
    (b"MAIL FROM:<injected@example.com>\r\n", "EHLO client.test", 250),
])
def test_plaintext_pipelined_after_starttls_is_discarded(relayd, certificate, injected, probe,
                                                         expected):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(b"STARTTLS\r\n" + injected)  # one write: one segment, one receive
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (220, "2.0.0"), reply
        assert client.buffer == b""
        client.sock = client_context(certificate).wrap_socket(client.sock, server_hostname=HOST)
        reply = client.command(probe)
        assert reply.code == expected, f"the injected command was answered: {reply}"
        if expected == 250:
            reply = client.command("RCPT TO:<rcpt@example.net>")
            assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply
            assert "need MAIL" in reply.text
        assert client.silent(), f"an extra reply arrived: {client.buffer!r}"


def test_the_handshake_forgets_ehlo_and_starttls_twice_is_refused(relayd, certificate):
    with SmtpClient(relayd.port) as client:
        ehlo = client.ehlo()
        assert "STARTTLS" in ehlo.texts
        client.expect("MAIL FROM:<sender@example.com>", 250)
        starttls(client, certificate)
        client.expect("MAIL FROM:<sender@example.com>", 503, "5.5.1")  # EHLO is forgotten
        ehlo = client.ehlo()
        assert "STARTTLS" not in ehlo.texts, ehlo
        reply = client.expect("STARTTLS", 503, "5.5.1")
        assert reply.text == "5.5.1 Error: TLS already active"
        client.envelope()
        reply = client.data(stuff(simple_message("after STARTTLS")))
        queue_id = queue_id_of(reply)
        client.expect("QUIT", 221)
    assert queue_id in relayd.queue()


def test_starttls_on_the_plaintext_listener_gets_502(relayd):
    with SmtpClient(relayd.plain_port) as client:
        assert "STARTTLS" not in client.ehlo().texts
        client.expect("STARTTLS", 502, "5.5.1")


# ---- broken and hostile clients end their own session only -----------------------------------

GARBAGE = b"\x16\x03\x01\x00\x30" + bytes(range(200, 248)) + b"EHLO not.tls\r\n" * 4


def test_garbage_ends_only_that_session(relayd, certificate):
    good_implicit = implicit_client(relayd, certificate)
    good_implicit.ehlo()
    with SmtpClient(relayd.port) as plain_first:
        plain_first.ehlo()
        good_starttls = starttls(plain_first, certificate)
        good_starttls.ehlo()

        # Garbage where a ClientHello belongs, on the implicit port ...
        with socket.create_connection(("127.0.0.1", relayd.implicit_port), timeout=5) as bad:
            bad.sendall(GARBAGE)
            assert closed_by_server(bad) is not None, "relayd kept a garbage session open"
        # ... and after a STARTTLS.
        with SmtpClient(relayd.port) as bad:
            bad.ehlo()
            assert bad.command("STARTTLS").code == 220
            bad.send(GARBAGE)
            assert closed_by_server(bad.sock) is not None

        # The sessions that were open meanwhile carry on.
        for client in (good_implicit, good_starttls):
            client.envelope()
            queue_queued = queue_id_of(client.data(stuff(simple_message("still here"))))
            client.expect("QUIT", 221)
            assert queue_queued in relayd.queue()
    good_implicit.close()
    # Log lines reach the file in batches, within 50 ms.
    wait_until(lambda: relayd.log().count("TLS handshake failed") >= 2,
               message="two handshake failures in the log")
    assert relayd.process.poll() is None


@pytest.mark.parametrize("where", ["implicit", "starttls"])
def test_a_client_stalling_mid_handshake_is_closed_after_the_timeout(relayd, where):
    if where == "implicit":
        sock = socket.create_connection(("127.0.0.1", relayd.implicit_port), timeout=10)
    else:
        client = SmtpClient(relayd.port, timeout=10)
        client.ehlo()
        assert client.command("STARTTLS").code == 220
        sock = client.sock
    with sock:
        # A record header announcing a ClientHello, and then only part of it.
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        took = closed_by_server(sock, timeout=HANDSHAKE_TIMEOUT_S + 5)
    assert took is not None, "a stalled handshake was kept open"
    assert HANDSHAKE_TIMEOUT_S - 0.5 <= took <= HANDSHAKE_TIMEOUT_S + 2, took
    wait_until(lambda: "TLS handshake not finished within 2 s" in relayd.log(), timeout=3,
               message="relayd to log the stalled handshake")


def test_trickling_a_handshake_does_not_extend_its_timeout(relayd):
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32)
    with socket.create_connection(("127.0.0.1", relayd.implicit_port), timeout=10) as sock:
        started = time.monotonic()
        closed = None
        for octet in hello:
            try:
                sock.sendall(bytes([octet]))
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - started
                break
            time.sleep(0.25)
        if closed is None:
            closed = closed_by_server(sock, timeout=5)
            closed = None if closed is None else time.monotonic() - started
    assert closed is not None and closed <= HANDSHAKE_TIMEOUT_S + 2, closed


# ---- a large message through TLS, delivered ---------------------------------------------------

def test_a_large_message_through_tls_is_delivered_byte_exact(relayd_factory, certificate):
    port = loopback_port()
    receiver = Receiver("127.0.0.2", port)
    try:
        settings = delivery_settings(port=port, tls="none",
                                     routes=[("*", f"127.0.0.2:{port}")],
                                     extra="body_piece_bytes = 65536")
        relayd = relayd_factory(settings=settings)
        data = large_message("large through inbound TLS", to="rcpt@example.net",
                             size=6 * 1024 * 1024)
        with smtplib.SMTP("127.0.0.1", relayd.port, timeout=30) as client:
            client.ehlo("client.test")
            client.starttls(context=client_context(certificate, check_hostname=False))
            client.ehlo("client.test")
            refused = client.sendmail("sender@example.com", ["rcpt@example.net"], data)
            assert refused == {}
        [received] = receiver.wait_for(1, timeout=60)
        prefix, rest = strip_prefix(received.data, data)
        assert rest == data
        assert b"with ESMTPS" in prefix, prefix  # RFC 3848: received over TLS
    finally:
        receiver.stop()


def test_random_tls_writes_and_chunks_deliver_every_message_byte_exact(relayd_factory,
                                                                       certificate):
    # TLS records (one per write here) and BDAT chunks cut a message at unrelated places; neither
    # cut may show in what is delivered. Sizes straddle a TLS record (16 KiB) and relayd's receive
    # buffers; writes of 1 octet to 40 KiB; DATA or BDAT at random. The seed is in the name of
    # each message, so a failure can be replayed.
    seed = int(os.environ.get("RELAY_TEST_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    port = loopback_port()
    receiver = Receiver("127.0.0.2", port)
    try:
        settings = delivery_settings(port=port, tls="none", routes=[("*", f"127.0.0.2:{port}")])
        relayd = relayd_factory(settings=settings)
        client = SmtpClient(relayd.port, timeout=20)
        client.expect("EHLO client.test", 250)
        starttls(client, certificate)
        client.expect("EHLO client.test", 250)
        sent = []
        for index in range(8):
            size = rng.choice([1, 2, 3, 16 * 1024, 64 * 1024, 200 * 1024]) + rng.randrange(300)
            line = bytes(rng.choice(b"abc. \xc3") for _ in range(70)).replace(b"\xc3", b"\xc3\xa9")
            body = (line + b"\r\n") * (size // 72 + 1)
            data = message_bytes(f"seed {seed} message {index}", to="rcpt@example.net", body=body)
            sent.append(data)
            client.expect("MAIL FROM:<sender@example.com>", 250)
            client.expect("RCPT TO:<rcpt@example.net>", 250)
            if rng.random() < 0.5:
                stream = b"DATA\r\n"
                client.send(stream)
                assert client.reply().code == 354
                stream = stuff(data)
            else:
                stream, offset = b"", 0
                while offset < len(data):
                    take = min(len(data) - offset, rng.choice([1, 100, 4096, 16384, 70000]))
                    last = offset + take == len(data)
                    stream += (f"BDAT {take}{' LAST' if last else ''}\r\n".encode() +
                               data[offset:offset + take])
                    offset += take
            chunks = stream.count(b"BDAT ")
            at = 0
            while at < len(stream):
                step = rng.choice([1, 7, 1000, 16 * 1024, 40 * 1024])
                client.send(stream[at:at + step])
                at += step
            replies = client.replies(max(chunks, 1))
            assert queue_id_of(replies[-1]), (seed, index, replies)
        client.close()
        received = receiver.wait_for(len(sent), timeout=60)
        by_subject = {}
        for message in received:
            subject = re.search(rb"Subject: (seed \d+ message \d+)", message.data).group(1)
            by_subject[subject] = message.data
        for index, data in enumerate(sent):
            delivered = by_subject[f"seed {seed} message {index}".encode()]
            assert strip_prefix(delivered, data)[1] == data, (seed, index)
    finally:
        receiver.stop()


# ---- configuration --------------------------------------------------------------------------

def test_a_tls_listener_without_a_certificate_does_not_load(tmp_path):
    config = tmp_path / "relayd.toml"
    config.write_text(textwrap.dedent(f"""
        [[listener]]
        address = "127.0.0.1:{free_port()}"
        tls = "starttls"
        """))
    result = subprocess.run([str(RELAYD), "--config", str(config), "--check-config"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "listener[0].tls" in result.stderr and "certificate_chain_file" in result.stderr, \
        result.stderr


def test_a_missing_certificate_file_stops_relayd_naming_it(tmp_path):
    config = tmp_path / "relayd.toml"
    config.write_text(textwrap.dedent(f"""
        [[listener]]
        address = "127.0.0.1:{free_port()}"
        tls = "implicit"
        [tls]
        certificate_chain_file = "missing-cert.pem"
        private_key_file = "missing-key.pem"
        """))
    result = subprocess.run([str(RELAYD), "--config", str(config)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert str(tmp_path / "missing-cert.pem") in result.stderr, result.stderr


def test_a_tls_client_that_pipelines_and_never_reads_is_held_to_the_output_bound(
        relayd_factory, certificate):
    # As in test_memory_bounds.py, inside TLS: the replies relayd encrypts for a client that never
    # reads them wait in the same bounded output, so relayd stops decrypting its input; the idle
    # timeout then ends the session.
    relayd = relayd_factory(settings="""
        [timeouts]
        command_s = 2
        close_s = 1
        """)
    pid = relayd.process.pid
    warm = implicit_client(relayd, certificate)
    warm.expect("EHLO warm.test", 250)
    warm.close()
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)

    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", relayd.implicit_port))
    attacker = client_context(certificate).wrap_socket(raw, server_hostname=HOST)
    attacker.setblocking(False)
    burst = b"EHLO attacker.test\r\n" * 512
    sent = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            sent += attacker.send(burst)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            time.sleep(0.01)
    grown_kib = memory_kib(pid, "VmHWM") - before

    assert sent < 64 * (1 << 20), f"relayd kept reading: {sent >> 20} MiB taken from the client"
    if not SANITIZED:
        # Measured: 7-18 MiB here against a steady 7 MiB for the plaintext test; a session that
        # kept decrypting and answering would take hundreds of MiB in these 4 s.
        assert grown_kib < 32 * 1024, f"relayd grew by {grown_kib} KiB for unread replies"

    # Other clients are served meanwhile.
    other = implicit_client(relayd, certificate)
    other.expect("EHLO other.test", 250)
    other.close()

    # Nothing moves either way: the session is closed although its replies are never read.
    below_tls = socket.socket(fileno=os.dup(attacker.fileno()))  # only the close matters now
    below_tls.settimeout(0.2)
    # Reading lets relayd work through the commands the kernel buffered (megabytes of EHLO, each
    # decrypted and answered): a sanitized build on a busy machine needs more than 15 s for it.
    deadline = time.monotonic() + 60
    closed = False
    while time.monotonic() < deadline and not closed:
        try:
            closed = below_tls.recv(1 << 20) == b""
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
    below_tls.close()
    attacker.close()
    assert closed, "the stalled TLS session was never closed"

"""test_smtp_errors.py -- every refusal of relayd's SMTP ingress, with its exact reply code.

Driven over a raw socket against the real relayd: unknown commands, commands out of sequence,
syntax errors in paths and parameters (the codes the parser gives: 500/501/553/555 with RFC 3463
enhanced codes), and each configured limit (recipients, line length, message and header size,
errors per session, idle timeouts, connections in all and per client), and the two inputs that
close a session at once: binary octets before EHLO (TLS sent to the plaintext port) and message
text sent before the reply to a refused DATA. After a refusal the session must stay usable unless
the reply was 421.
"""
import random
import ssl
import time

import pytest

from helpers import (QueuedRelayd, SmtpClient, queue_id_of, simple_message, stuff,  # noqa: F401
                     wait_until, relayd, relayd_factory)  # the fixtures: delivery held


@pytest.fixture(scope="module")
def patient_relayd(tmp_path_factory):
    """One relayd for the table-driven cases; it tolerates many errors per session."""
    relayd = QueuedRelayd(tmp_path_factory.mktemp("errors"),
                          "[limits]\nerrors_per_session_max = 1000\n").start()
    yield relayd
    relayd.stop()


def expect_still_usable(client):
    """The session answers normally after a refusal, and no stray reply came first."""
    reply = client.command("NOOP")
    assert (reply.code, reply.enhanced) == (250, "2.0.0"), reply


# --- unknown commands and sequence -------------------------------------------------------------

@pytest.mark.parametrize("line", ["FOO", "MAILX FROM:<a@example.com>", "", "   ", "EHL",
                                  "STARTTLSX", "\x00\x01", "DATA\x00"])
def test_unknown_command(patient_relayd, line):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        reply = client.command(line.encode("latin-1"))
        assert (reply.code, reply.enhanced) == (500, "5.5.2"), reply
        expect_still_usable(client)


def test_bad_sequence(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nerrors_per_session_max = 100\n")
    with SmtpClient(relayd.port) as client:
        client.expect("MAIL FROM:<a@example.com>", 503, "5.5.1")  # before EHLO
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")
        client.expect("DATA", 503, "5.5.1")
        client.ehlo()
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")  # before MAIL
        client.expect("DATA", 503, "5.5.1")  # before MAIL
        client.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        client.expect("DATA", 554, "5.5.1")  # no recipient yet (RFC 5321 §3.3 allows 503/554)
        client.expect("MAIL FROM:<c@example.com>", 503, "5.5.1")  # nested MAIL
        client.expect("RCPT TO:<b@example.net>", 250, "2.1.5")
        # EHLO ends the transaction (RFC 5321 §4.1.4).
        client.ehlo()
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")
        client.expect("DATA", 503, "5.5.1")
        # And a transaction after all that works, with the first MAIL forgotten.
        client.envelope(sender="d@example.com")
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert relayd.queue()[queue_id]["from"] == "d@example.com"


def test_extensions_need_ehlo(patient_relayd):
    with SmtpClient(patient_relayd.port) as client:
        client.expect("HELO client.test", 250)
        client.expect("MAIL FROM:<a@example.com> SMTPUTF8", 555, "5.5.4")
        client.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")


def test_unsupported_commands(patient_relayd):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        client.expect("EXPN staff", 502, "5.5.1")
        client.expect("STARTTLS", 502, "5.5.1")
        client.expect("AUTH PLAIN AGFsaWNlAHNlY3JldA==", 502, "5.5.1")
        expect_still_usable(client)


# --- protocol abuse: closed at once --------------------------------------------------------

def tls_client_hello():
    """The first flight of a real TLS client (Python's ssl), as it would reach a plaintext
    port."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="relay.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_tls_on_the_plaintext_port_is_closed_at_once(relayd):
    hello = tls_client_hello()
    assert hello[:2] == b"\x16\x03"
    with SmtpClient(relayd.port) as client:
        client.send(hello)
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (421, "4.5.1"), reply
        assert "binary input before EHLO" in reply.text and "TLS" in reply.text
        assert client.closed()
    # Three octets, no LF: the reply does not wait for a line to end.
    with SmtpClient(relayd.port) as client:
        client.send(hello[:3])
        assert client.reply().code == 421
        assert client.closed()
    # The next session is a normal one.
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert list(relayd.queue()) == [queue_id]


REFUSED_GROUP = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<not an address>\r\nDATA\r\n"
# Sent right behind DATA without waiting for its reply: read as commands, it would be a
# transaction of its own, from a sender the body names.
SMUGGLED_TRANSACTION = (b"RSET\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.net>\r\n"
                        b"DATA\r\nFrom: <ceo@example.com>\r\nSubject: wire the money\r\n\r\n"
                        b"Today, please.\r\n.\r\nQUIT\r\n")


def test_message_sent_before_the_reply_to_a_refused_data_is_not_run(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(REFUSED_GROUP + SMUGGLED_TRANSACTION)
        replies = client.replies(4)
        assert [(r.code, r.enhanced) for r in replies] == [
            (250, "2.1.0"), (501, "5.1.3"), (554, "5.5.1"), (421, "4.5.0")], replies
        assert "before the reply to DATA" in replies[3].text
        assert client.closed()  # no reply to anything in the smuggled text
    assert relayd.queue() == {}


def test_a_client_that_waits_for_the_reply_to_data_goes_on(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(REFUSED_GROUP)
        assert [r.code for r in client.replies(3)] == [250, 501, 554]
        assert client.silent()
        client.expect("RSET", 250)
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert list(relayd.queue()) == [queue_id]


# --- syntax errors -------------------------------------------------------------------------

LONG_LOCAL = "a" * 65
LONG_DOMAIN = ".".join(["d" * 60] * 4) + ".example.example"  # 256 octets

# (command line, code, enhanced). Sent after EHLO, and for RCPT after a good MAIL.
MAIL_CASES = [
    ("MAIL", 501, "5.5.4"),
    ("MAIL TO:<a@example.com>", 501, "5.5.4"),
    ("MAIL FROM:", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com", 501, "5.1.7"),
    ("MAIL FROM:<a@example.com>x", 501, "5.5.4"),
    ("MAIL FROM:a@example.com SIZE=10", 501, "5.5.4"),
    ("MAIL FROM:<not an address>", 501, "5.1.7"),
    ("MAIL FROM:<a@>", 501, "5.1.7"),
    ("MAIL FROM:<@example.com>", 501, "5.1.7"),
    ("MAIL FROM:<a@-example.com>", 501, "5.1.7"),
    ("MAIL FROM:<a..b@example.com>", 501, "5.1.7"),
    ("MAIL FROM:<a@[300.1.1.1]>", 501, "5.1.7"),
    (f"MAIL FROM:<{LONG_LOCAL}@example.com>", 501, "5.1.7"),
    (f"MAIL FROM:<a@{LONG_DOMAIN}>", 501, "5.1.7"),
    ("MAIL FROM:<a@example.com> FOO=bar", 555, "5.5.4"),
    ("MAIL FROM:<a@example.com> RET=HDRS", 555, "5.5.4"),  # no DSN extension offered
    ("MAIL FROM:<a@example.com> =bar", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> SIZE=", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> SIZE=ten", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> SIZE=99999999999999999999999", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> SIZE=1 SIZE=2", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> BODY=9BIT", 501, "5.5.4"),
    ("MAIL FROM:<a@example.com> BODY=BINARYMIME", 555, "5.5.4"),  # no BINARYMIME offered
    ("MAIL FROM:<a@example.com> SMTPUTF8=yes", 501, "5.5.4"),
    (b"MAIL FROM:<\xff\xfe@example.com> SMTPUTF8", 553, "5.1.7"),
    (b"MAIL FROM:<j\xc3@example.com> SMTPUTF8", 553, "5.1.7"),
]

RCPT_CASES = [
    ("RCPT", 501, "5.5.4"),
    ("RCPT FROM:<b@example.net>", 501, "5.5.4"),
    ("RCPT TO:", 501, "5.5.4"),
    ("RCPT TO:<>", 501, "5.1.3"),
    ("RCPT TO:<b@example.net", 501, "5.1.3"),
    ("RCPT TO:<no-domain>", 501, "5.1.3"),
    ("RCPT TO:<b@example.net>junk", 501, "5.5.4"),
    (f"RCPT TO:<{LONG_LOCAL}@example.net>", 501, "5.1.3"),
    ("RCPT TO:<b@example.net> NOTIFY=NEVER", 555, "5.5.4"),
    ("RCPT TO:<b@example.net> =x", 501, "5.5.4"),
    (b"RCPT TO:<\xc0\x80@example.net>", 553, "5.1.3"),
]

OTHER_CASES = [
    ("EHLO", 501, "5.5.4"),
    ("HELO", 501, "5.5.4"),
    ("DATA now", 501, "5.5.4"),
    ("RSET all", 501, "5.5.4"),
    ("QUIT now", 501, "5.5.4"),
    ("VRFY", 501, "5.5.4"),
    ("EXPN", 501, "5.5.4"),
    ("BDAT", 501, "5.5.4"),
    ("BDAT ten", 501, "5.5.4"),
    ("BDAT -1", 501, "5.5.4"),
    ("BDAT 10 MORE", 501, "5.5.4"),
    ("BDAT 10 LAST extra", 501, "5.5.4"),
    ("BDAT 99999999999999999999999", 501, "5.5.4"),
    ("STARTTLS now", 501, "5.5.4"),
]


def ids(cases):
    return [c[0] if isinstance(c[0], str) else repr(c[0]) for c in cases]


@pytest.mark.parametrize("line, code, enhanced", MAIL_CASES, ids=ids(MAIL_CASES))
def test_mail_syntax(patient_relayd, line, code, enhanced):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        reply = client.command(line)
        assert (reply.code, reply.enhanced) == (code, enhanced), reply
        # Refused MAIL leaves no transaction behind.
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")
        client.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")


@pytest.mark.parametrize("line, code, enhanced", RCPT_CASES, ids=ids(RCPT_CASES))
def test_rcpt_syntax(patient_relayd, line, code, enhanced):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        client.expect("MAIL FROM:<a@example.com> SMTPUTF8", 250, "2.1.0")
        reply = client.command(line)
        assert (reply.code, reply.enhanced) == (code, enhanced), reply
        client.expect("RCPT TO:<b@example.net>", 250, "2.1.5")


@pytest.mark.parametrize("line, code, enhanced", OTHER_CASES, ids=ids(OTHER_CASES))
def test_other_syntax(patient_relayd, line, code, enhanced):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        reply = client.command(line)
        assert (reply.code, reply.enhanced) == (code, enhanced), reply
        expect_still_usable(client)


def test_valid_unusual_paths_are_accepted(patient_relayd):
    with SmtpClient(patient_relayd.port) as client:
        client.ehlo()
        client.expect("MAIL FROM:<>", 250, "2.1.0")  # the null reverse-path
        for path in ["<Postmaster>", "<postmaster@relay.test>", '<"quoted local"@example.net>',
                     "<user@[192.0.2.1]>", "<user@[IPv6:2001:db8::1]>",
                     "<@route.example:user@example.net>", "user2@example.net",
                     "<" + "a" * 64 + "@example.net>"]:
            client.expect(f"RCPT TO:{path}", 250, "2.1.5")
        client.expect("RSET", 250)
        client.expect("mail from: <a@example.com>  SIZE=100 BODY=7BIT", 250, "2.1.0")


def test_one_reply_per_command_line_whatever_the_bytes(patient_relayd):
    """800 pipelined lines of random bytes (some looking like commands, some too long): one
    reply each, in order, and the session is still usable."""
    rng = random.Random(5321)
    prefixes = [b"", b"MAIL FROM:<", b"RCPT TO:<", b"EHLO ", b"MAIL FROM:<a@b> ", b"VRFY ",
                b"NOOP ", b"HELP ", b"RSET", b"BDAT x", b"mail from:", b"rcpt to:<a@", b"@"]
    alphabet = bytes(b for b in range(256) if b not in b"\r\n")
    lines = []
    while len(lines) < 800:
        size = rng.choice([rng.randrange(0, 40), rng.randrange(0, 600)])
        line = rng.choice(prefixes) + bytes(rng.choice(alphabet) for _ in range(size))
        verb = line.split(b" ", 1)[0][:9].lower()
        if verb in (b"data", b"bdat", b"quit", b"starttls"):
            continue  # these change the framing or end the session
        lines.append(line)
    with SmtpClient(patient_relayd.port, timeout=20) as client:
        client.ehlo()
        client.send(b"".join(line + b"\r\n" for line in lines) + b"NOOP\r\n")
        replies = client.replies(len(lines) + 1)
        assert all(200 <= r.code < 600 for r in replies)
        assert replies[-1].code == 250
        assert client.silent(0.1)
        client.expect("RSET", 250)
        client.envelope()
        queue_id_of(client.data(stuff(simple_message())))


# --- limits --------------------------------------------------------------------------------

def test_too_many_recipients(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nrecipients_per_message_max = 3\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope(recipients=["r1@example.net", "r2@example.net", "r3@example.net"])
        client.expect("RCPT TO:<r4@example.net>", 452, "4.5.3")
        client.expect("RCPT TO:<r5@example.net>", 452, "4.5.3")
        queue_id = queue_id_of(client.data(stuff(simple_message())))
        # The limit is per transaction.
        client.envelope(recipients=["r4@example.net", "r5@example.net", "r6@example.net"])
        client.expect("RSET", 250)
    recipients = [r["address"] for r in relayd.queue()[queue_id]["recipients"]]
    assert recipients == ["r1@example.net", "r2@example.net", "r3@example.net"]


def test_command_line_limit_is_512_octets(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        line = "NOOP " + "x" * (512 - 2 - 5)  # 512 octets with CRLF: the most allowed
        assert len(line) + 2 == 512
        client.expect(line, 250)
        reply = client.command(line + "x")
        assert (reply.code, reply.enhanced) == (500, "5.5.2"), reply
        # A long line in pieces, with a command hidden at its end: one reply, nothing executed.
        client.send("MAIL FROM:<a@example.com> " + "y" * 3000)
        for _ in range(5):
            client.send("z" * 20000)
        client.send("\r\nNOOP\r\n")
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (500, "5.5.2"), reply
        assert client.reply().code == 250
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")  # the long MAIL was not taken
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert list(relayd.queue()) == [queue_id]


def test_command_line_limit_is_configurable(relayd_factory):
    relayd = relayd_factory(settings="[limits]\ncommand_line_bytes_max = 1000\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        line = "NOOP " + "x" * (1000 - 2 - 5)
        client.expect(line, 250)
        client.expect(line + "x", 500, "5.5.2")


def test_message_size_limit(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nmessage_bytes_max = 1000\n")
    fits = simple_message("fits")
    fits += b"." * (1000 - len(fits) - 2) + b"\r\n"  # exactly 1000 stored; stuffed it is 1001
    assert len(fits) == 1000
    with SmtpClient(relayd.port) as client:
        reply = client.ehlo()
        assert "SIZE 1000" in reply.texts
        client.expect("MAIL FROM:<a@example.com> SIZE=1001", 552, "5.3.4")
        client.expect("MAIL FROM:<a@example.com> SIZE=1000", 250, "2.1.0")
        client.expect("RCPT TO:<b@example.net>", 250, "2.1.5")
        queue_id = queue_id_of(client.data(stuff(fits)))
        # Undeclared, and one octet too many.
        client.envelope()
        reply = client.data(stuff(fits[:-2] + b"x\r\n"))
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        # Far too many: the data is still read to its end, then refused.
        client.envelope()
        reply = client.data(stuff(simple_message(body=b"y" * 998 + b"\r\n") * 200))
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        # BDAT: refused at the chunk that crosses the limit; the chunk is still consumed.
        client.envelope()
        client.send(b"BDAT 600\r\n" + b"a" * 598 + b"\r\n")
        assert client.reply().code == 250
        client.send(b"BDAT 600 LAST\r\n" + b"QUIT\r\n" * 100)
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        expect_still_usable(client)
        client.expect("RCPT TO:<b@example.net>", 503, "5.5.1")  # the transaction is over
    assert list(relayd.queue()) == [queue_id]
    assert relayd.message_data(queue_id) == fits


def test_header_size_limit(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nheader_bytes_max = 1024\n")
    big_header = b"X-Filler: " + b"f" * 70 + b"\r\n"
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        reply = client.data(stuff(big_header * 20 + b"\r\nbody\r\n"))
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        client.envelope()
        message = big_header * 5 + b"\r\n" + b"body line\r\n" * 500  # a long body is fine
        queue_id = queue_id_of(client.data(stuff(message)))
    assert relayd.message_data(queue_id) == message


def test_too_many_errors_closes_the_session(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nerrors_per_session_max = 3\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.expect("FOO", 500, "5.5.2")
        client.expect("RCPT TO:<a@example.net>", 503, "5.5.1")
        client.expect("NOOP", 250)  # successes do not reset the count
        client.send("MAIL FROM:<broken\r\nNOOP\r\n")
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (501, "5.1.7"), reply
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        assert reply.text.startswith("4.7.0 relay.test ")
        assert client.closed()  # the pipelined NOOP got no reply
    # Other sessions are not affected.
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        expect_still_usable(client)


def test_idle_timeout(relayd_factory):
    relayd = relayd_factory(settings="[timeouts]\ncommand_s = 1\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        started = time.monotonic()
        reply = client.reply(timeout=5)
        waited = time.monotonic() - started
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed()
        assert 0.9 <= waited < 3.5, waited
    # Activity keeps a session open: six commands, 0.4 s apart, outlive the limit.
    with SmtpClient(relayd.port) as client:
        for _ in range(6):
            time.sleep(0.4)
            client.expect("NOOP", 250)


def test_data_timeout_drops_the_partial_message(relayd_factory):
    relayd = relayd_factory(settings="[timeouts]\ndata_s = 1\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(b"Subject: partial\r\n\r\nsome data\r\n")
        reply = client.reply(timeout=5)
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed()
    assert relayd.queue() == {}


def admitted_client(port, **kwargs):
    """A session that got its 220. The probe that saw relayd listening, or a session a test
    just closed, holds its slot until relayd notices it is gone: retry until then."""
    def attempt():
        client = SmtpClient(port, greet=False, **kwargs)
        reply = client.reply()
        if reply.code == 220:
            return client
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        client.close()
        return None
    return wait_until(attempt, timeout=5, message="a free connection slot")


def test_command_timeout_does_not_apply_during_data(relayd_factory):
    relayd = relayd_factory(settings="[timeouts]\ncommand_s = 1\ndata_s = 30\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(b"Subject: slow\r\n\r\n")
        assert client.silent(2.2)  # longer than command_s plus the timer's 1 s granularity
        client.send(b"body\r\n.\r\n")
        queue_id = queue_id_of(client.reply())
    assert list(relayd.queue()) == [queue_id]


def test_data_timeout_applies_to_a_bdat_chunk(relayd_factory):
    relayd = relayd_factory(settings="[timeouts]\ndata_s = 1\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT 100 LAST\r\nten bytes.")
        reply = client.reply(timeout=5)
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed()
    assert relayd.queue() == {}


def test_connections_max(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nconnections_max = 2\n")
    first = admitted_client(relayd.port)
    second = admitted_client(relayd.port)
    with SmtpClient(relayd.port, greet=False) as third:
        reply = third.reply()
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        assert third.closed()
    second.expect("QUIT", 221)
    second.close()

    # The slot is given back once the session is gone.
    admitted_client(relayd.port).close()
    first.expect("NOOP", 250)
    first.close()


def test_connections_per_client_max(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nconnections_per_client_max = 1\n")
    with admitted_client(relayd.port) as first:
        with SmtpClient(relayd.port, greet=False) as second:
            reply = second.reply()
            assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
            assert second.closed()
        # Another client address is counted on its own.
        with SmtpClient(relayd.port, source="127.0.0.2") as other:
            assert other.greeting.code == 220
            other.expect("NOOP", 250)
            with SmtpClient(relayd.port, source="127.0.0.2", greet=False) as again:
                assert again.reply().code == 421
        first.expect("NOOP", 250)

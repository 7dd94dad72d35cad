"""test_message_data.py -- what relayd does with the bytes of a message (DATA and BDAT).

Against the real relayd over a raw socket: the end of data is CRLF "." CRLF and nothing else
(RFC 5321 §4.1.1.4), so the SMTP smuggling sequences (LF "." LF, CR "." CR, LF "." CRLF, ...)
neither end the data nor let the bytes after them run as commands; bare CR and bare LF are refused
(554 5.6.0) or, on a listener with bare_line_endings = "normalize", stored as CRLF; 8-bit content
must be UTF-8 (554 5.6.0); a NUL octet is refused (554 5.6.0), and CRLF NUL "." CRLF does not end
the data; a line longer than 998 octets is refused (554 5.6.0) with a reply that says which line
and what to do, since strict next hops refuse it after relayd's 250; dot-stuffing round-trips
exactly (RFC 5321 §4.5.2). The stored bytes are read back with
`relayctl queue show ID --data`.
"""
import time

import pytest

from helpers import (SmtpClient, queue_id_of, stuff,  # noqa: F401
                     relayd, relayd_factory)  # the fixtures: delivery held


HEADER = b"From: <sender@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: data\r\n\r\n"
NORMALIZE = 'bare_line_endings = "normalize"\n'


@pytest.fixture
def normalizing_relayd(relayd_factory):
    return relayd_factory(listener=NORMALIZE)


def send_data(relayd, raw, pieces=1):
    """One transaction; `raw` is everything after the 354, sent as it is (in `pieces` writes,
    a little apart). Returns the final reply; asserts nothing else arrives."""
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        step = max(1, -(-len(raw) // pieces))
        for offset in range(0, len(raw), step):
            client.send(raw[offset:offset + step])
            if pieces > 1:
                time.sleep(0.003)
        reply = client.reply()
        assert client.silent(0.1), client.buffer
        client.expect("NOOP", 250)
        return reply


def send_chunks(relayd, chunks):
    """One transaction with one BDAT per chunk, the last one with LAST."""
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        for index, chunk in enumerate(chunks):
            last = b" LAST" if index == len(chunks) - 1 else b""
            client.send(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
            reply = client.reply()
            if not last:
                assert reply.code == 250, reply
        return reply


def stored(relayd, reply):
    queue_id = queue_id_of(reply)
    assert list(relayd.queue()) == [queue_id]
    return relayd.message_data(queue_id)


def rfc5321_model(raw):
    """What a receiver stores for DATA bytes `raw` (ending with the terminator) under RFC 5321
    with bare CR and LF normalised: lines end only in CRLF; a line "." ends the data; a leading
    "." of any other line is removed; then each bare CR or LF becomes CRLF."""
    lines = raw.split(b"\r\n")
    out = []
    for line in lines:
        if line == b".":
            break
        out.append(line[1:] if line.startswith(b".") else line)
    else:
        raise AssertionError("no terminator")
    text = b"\r\n".join(out) + b"\r\n" if out else b""
    return text.replace(b"\r\n", b"\0").replace(b"\r", b"\0").replace(b"\n", b"\0") \
               .replace(b"\0", b"\r\n")


# --- bare line endings -------------------------------------------------------------------------

BARE = [
    pytest.param(HEADER + b"one\ntwo\r\n", id="bare-LF"),
    pytest.param(HEADER + b"one\rtwo\r\n", id="bare-CR"),
    pytest.param(HEADER + b"one\r\r\ntwo\r\n", id="CR-before-CRLF"),
    pytest.param(HEADER + b"one\n\rtwo\r\n", id="LF-CR"),
    pytest.param(b"Subject: bare in header\n\r\nbody\r\n", id="in-header"),
    pytest.param(HEADER + b"last line ends in bare CR\r", id="CR-then-terminator"),
]


@pytest.mark.parametrize("content", BARE)
def test_bare_line_endings_are_refused_by_default(relayd, content):
    reply = send_data(relayd, content + b"\r\n.\r\n" if content.endswith(b"\r")
                      else stuff(content))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


@pytest.mark.parametrize("content", BARE)
def test_bare_line_endings_are_normalized_when_configured(normalizing_relayd, content):
    raw = content + b"\r\n.\r\n" if content.endswith(b"\r") else stuff(content)
    reply = send_data(normalizing_relayd, raw)
    assert reply.code == 250, reply
    assert stored(normalizing_relayd, reply) == rfc5321_model(raw)


def test_bare_line_endings_in_bdat(relayd, relayd_factory):
    reply = send_chunks(relayd, [HEADER + b"one\ntwo\r\n"])
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}
    lenient = relayd_factory(listener=NORMALIZE, name="lenient")
    reply = send_chunks(lenient, [HEADER + b"one\ntwo\rthree\r\n", b"end\n"])
    assert stored(lenient, reply) == HEADER + b"one\r\ntwo\r\nthree\r\nend\r\n"


def test_crlf_split_between_chunks_and_writes_is_not_bare(relayd):
    # BDAT: CR at the end of one chunk, LF at the start of the next.
    reply = send_chunks(relayd, [HEADER + b"one\r", b"\ntwo\r\n"])
    assert stored(relayd, reply) == HEADER + b"one\r\ntwo\r\n"
    relayd.ctl("queue", "list")  # the spool stays readable while relayd runs
    # DATA: the same in separate TCP writes, and a multi-byte character split too.
    message = HEADER + "Grüße, €\r\n".encode() * 3
    reply = send_data(relayd, stuff(message), pieces=17)
    queue_id = queue_id_of(reply)
    assert relayd.message_data(queue_id) == message


# --- UTF-8 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                 b"\xe2\x82", b"\x80", b"caf\xe9"],
                         ids=["ff", "overlong", "surrogate", "above-10FFFF", "truncated",
                              "lone-continuation", "latin-1"])
def test_invalid_utf8_is_refused(relayd, bad):
    reply = send_data(relayd, stuff(HEADER + b"text " + bad + b" more\r\n"))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    reply = send_chunks(relayd, [HEADER + b"text " + bad, b" more\r\n"])
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


def test_invalid_utf8_in_a_header_is_refused(relayd):
    reply = send_data(relayd, stuff(b"Subject: caf\xe9\r\n\r\nbody\r\n"))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply


def test_utf8_split_across_chunks_is_accepted(relayd):
    euro = "€".encode()
    reply = send_chunks(relayd, [HEADER + b"price: 5" + euro[:1], euro[1:2], euro[2:] + b"\r\n"])
    assert stored(relayd, reply) == HEADER + b"price: 5" + euro + b"\r\n"


def test_utf8_check_can_be_turned_off(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nrequire_valid_utf8 = false\n")
    message = HEADER + b"latin-1: caf\xe9\r\n"
    reply = send_data(relayd, stuff(message))
    assert stored(relayd, reply) == message


# --- NUL octets --------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [HEADER + b"one\0two\r\n", b"Subject: a\0b\r\n\r\nbody\r\n",
                                     HEADER + b"\0\r\n", HEADER + b"last\r\n\0"],
                         ids=["body", "header", "line-start", "before-terminator"])
def test_a_nul_octet_is_refused(relayd, content):
    raw = stuff(content) if content.endswith(b"\r\n") else content + b"\r\n.\r\n"
    reply = send_data(relayd, raw)
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert "NUL" in reply.text
    reply = send_chunks(relayd, [content[:5], content[5:]])
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


def test_crlf_nul_dot_crlf_does_not_end_the_data(relayd):
    """A next hop that drops NULs would see the end of the data here, and run the rest as
    commands: relayd reads on to the real end (one reply, nothing executed) and refuses."""
    for nul_end in (b"\r\n\0.\r\n", b"\r\n.\0\r\n"):
        reply = send_data(relayd, HEADER + b"innocent body" + nul_end + SMUGGLED + b".\r\n")
        assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


# --- line length -------------------------------------------------------------------------------

LONG_LINE_GUIDANCE = ("Error: line 5 of the message is longer than 998 octets (RFC 5322 section "
                      "2.1.1); encode that part with quoted-printable or base64")


def test_a_998_octet_line_is_accepted(relayd):
    message = HEADER + b"x" * 998 + b"\r\n" + b"." * 998 + b"\r\n"
    for reply in (send_data(relayd, stuff(message)),
                  send_chunks(relayd, [message[:500], message[500:]])):
        assert relayd.message_data(queue_id_of(reply)) == message


@pytest.mark.parametrize("line", [b"y" * 999, b"." * 999, b"\xc3\xa9" * 600],
                         ids=["ascii", "dots", "utf8"])
def test_a_999_octet_line_is_refused_with_guidance(relayd, line):
    message = HEADER + line + b"\r\nafter\r\n"  # HEADER has 4 lines: this is line 5
    reply = send_data(relayd, stuff(message))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert reply.text == "5.6.0 " + LONG_LINE_GUIDANCE
    reply = send_chunks(relayd, [message[:len(HEADER) + 400], message[len(HEADER) + 400:]])
    assert reply.text == "5.6.0 " + LONG_LINE_GUIDANCE
    assert relayd.queue() == {}


def test_a_long_header_line_is_refused(relayd):
    reply = send_data(relayd, stuff(b"Subject: " + b"s" * 990 + b"\r\n\r\nbody\r\n"))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert "line 1 of the message" in reply.text
    assert relayd.queue() == {}


def test_the_line_limit_can_be_turned_off(relayd_factory):
    relayd = relayd_factory(settings="[limits]\nmessage_line_bytes_max = 0\n")
    message = HEADER + b"z" * 5000 + b"\r\n"
    assert stored(relayd, send_data(relayd, stuff(message))) == message


# --- SMTP smuggling ----------------------------------------------------------------------------

FAKE_ENDS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\n..\n",
             b"\r\n.\r\r\n"]
SMUGGLED = (b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"From: <ceo@example.com>\r\nSubject: smuggled\r\n\r\nevil\r\n")


def smuggling_data(fake_end):
    return HEADER + b"innocent body" + fake_end + SMUGGLED + b".\r\n"


@pytest.mark.parametrize("fake_end", FAKE_ENDS, ids=[repr(f)[2:-1] for f in FAKE_ENDS])
def test_smuggling_is_refused_in_reject_mode(relayd, fake_end):
    # send_data checks that exactly one reply came: none for the smuggled commands.
    reply = send_data(relayd, smuggling_data(fake_end))
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


@pytest.mark.parametrize("fake_end", FAKE_ENDS, ids=[repr(f)[2:-1] for f in FAKE_ENDS])
def test_smuggling_is_one_message_in_normalize_mode(normalizing_relayd, fake_end):
    raw = smuggling_data(fake_end)
    reply = send_data(normalizing_relayd, raw)
    assert reply.code == 250, reply
    data = stored(normalizing_relayd, reply)  # one message, and only one
    assert b"evil\r\n" in data and b"MAIL FROM:<evil@example.com>" in data
    assert data == rfc5321_model(raw)


def test_smuggling_fake_end_split_across_writes(relayd):
    """The fake end arriving byte by byte must not end the data either."""
    raw = smuggling_data(b"\n.\n")
    reply = send_data(relayd, raw, pieces=len(raw) // 3)
    assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
    assert relayd.queue() == {}


def test_smuggling_pipelined_with_quit(normalizing_relayd):
    with SmtpClient(normalizing_relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(smuggling_data(b"\n.\r\n") + b"QUIT\r\n")
        replies = client.replies(2)
        assert replies[0].code == 250 and replies[1].code == 221, replies
        assert client.closed()
    assert len(normalizing_relayd.queue()) == 1


# --- dot-stuffing ------------------------------------------------------------------------------

def test_dot_stuffing_round_trips(relayd):
    message = HEADER + (b".\r\n..\r\n...\r\n.leading\r\n..two\r\n . space first\r\nmid.dle.\r\n"
                        b".\r\n\r\n.\r\nend.\r\n")
    raw = stuff(message)
    assert raw.count(b"\r\n..\r\n") >= 2
    reply = send_data(relayd, raw)
    assert stored(relayd, reply) == message


def test_dot_stuffing_across_writes(relayd):
    message = HEADER + b"line\r\n" + b".x\r\n" * 200 + b".\r\n" * 200 + b"last\r\n"
    reply = send_data(relayd, stuff(message), pieces=97)
    assert stored(relayd, reply) == message


def test_terminator_split_across_writes(relayd):
    message = HEADER + b"body\r\n"
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        for piece in (message[:-1], b"\n", b".", b"\r", b"\n"):
            client.send(piece)
            time.sleep(0.02)
        queue_id = queue_id_of(client.reply())
    assert relayd.message_data(queue_id) == message


def test_last_line_without_crlf(relayd):
    """The CRLF before "." ends the last line (RFC 5321 §4.1.1.4): it is part of the message."""
    reply = send_data(relayd, HEADER + b"no newline of its own\r\n.\r\n")
    assert stored(relayd, reply) == HEADER + b"no newline of its own\r\n"


def test_empty_message(relayd):
    """DATA's own CRLF is the one before the "." (RFC 5321 §4.1.1.4): no data at all."""
    reply = send_data(relayd, b".\r\n")
    assert stored(relayd, reply) == b""


def test_headers_only_message(relayd):
    message = b"Subject: only headers\r\nFrom: <a@example.com>\r\n"
    reply = send_data(relayd, stuff(message))
    assert stored(relayd, reply) == message


def test_a_large_message_round_trips(relayd):
    line = bytes(range(0x20, 0x7f)) + b"\r\n"
    message = HEADER + b"".join(line[index % 60:] for index in range(20000)) + b".\r\n"
    assert len(message) > 1_000_000
    reply = send_data(relayd, stuff(message), pieces=7)
    assert stored(relayd, reply) == message

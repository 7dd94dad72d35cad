"""test_smtp_session.py -- SMTP sessions that succeed, driven against the real relayd.

Real clients (swaks, Python's smtplib) and a raw socket for what they cannot send on demand:
pipelined groups (RFC 2920) and BDAT chunks (RFC 3030). Each test checks what a client sees (the
reply codes, with their enhanced codes, RFC 2034/3463) and what relayd stored (the queue and the
exact message bytes, through relayctl). Also: a graceful stop while a message is being received,
and `relayd --check-config`.
"""
import json
import signal
import smtplib
import socket
import subprocess
import threading

import pytest

from conftest import RELAYD, REPO
from helpers import (SmtpClient, queue_id_of, simple_message, stuff, wait_until,  # noqa: F401
                     relayd, relayd_factory)  # the fixtures: delivery held


def show(relayd, queue_id):
    return json.loads(relayd.ctl("queue", "show", queue_id, "--json").stdout)


def test_swaks_submission_is_queued_with_the_bytes_sent(relayd, tmp_path):
    message = (b"From: Sender <sender@example.com>\r\nTo: <rcpt@example.net>\r\n"
               b"Subject: swaks\r\n\r\nfirst line\r\n.\r\n..two dots\r\n.leading dot\r\n"
               b"\r\nlast line\r\n")
    path = tmp_path / "message.eml"
    # swaks sends the file, dot-stuffed, then CRLF "." CRLF: the last CRLF is its own.
    path.write_bytes(message[:-2])
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{relayd.port}", "--from", "sender@example.com",
         "--to", "rcpt@example.net", "--helo", "client.test", "--data", f"@{path}"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    queued = [line[4:] for line in result.stdout.splitlines()
              if line.startswith("<-  250 2.0.0 Ok: queued as ")]
    assert len(queued) == 1, result.stdout
    queue_id = queued[0].rsplit(" ", 1)[1]
    assert len(queue_id) == 16 and int(queue_id, 16) >= 0
    queue = relayd.queue()
    assert list(queue) == [queue_id]
    assert queue[queue_id]["from"] == "sender@example.com"
    assert [r["address"] for r in queue[queue_id]["recipients"]] == ["rcpt@example.net"]
    assert queue[queue_id]["size"] == len(message)
    assert relayd.message_data(queue_id) == message
    details = show(relayd, queue_id)
    assert details["client_helo"] == "client.test"
    assert details["protocol"] == "ESMTP"
    assert details["data_intact"] is True


def smtp_client(relayd):
    client = smtplib.SMTP("127.0.0.1", relayd.port, local_hostname="client.test", timeout=10)
    code, _ = client.ehlo()
    assert code == 250
    return client


def send(client, sender, recipients, message, options=()):
    """One transaction over smtplib; returns the queue id from the final reply."""
    code, text = client.mail(sender, list(options))
    assert code == 250, text
    for recipient in recipients:
        code, text = client.rcpt(recipient)
        assert code == 250, text
    code, text = client.data(message)
    assert code == 250, text
    prefix = b"2.0.0 Ok: queued as "
    assert text.startswith(prefix), text
    return text[len(prefix):].decode()


def test_smtplib_extensions_and_several_messages_per_connection(relayd):
    client = smtp_client(relayd)
    for extension in ("pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking"):
        assert client.has_extn(extension), client.esmtp_features
    assert not client.has_extn("size")  # no limit configured: SIZE is not advertised
    assert not client.has_extn("starttls") and not client.has_extn("auth")
    sent = {}
    for index in range(5):
        message = simple_message(f"message {index}", f"body {index}\r\n".encode() * (index + 1))
        recipients = [f"r{index}-{n}@example.net" for n in range(index + 1)]
        sent[send(client, f"s{index}@example.com", recipients, message)] = (index, message)
    assert client.quit()[0] == 221
    assert len(sent) == 5
    queue = relayd.queue()
    assert set(queue) == set(sent)
    for queue_id, (index, message) in sent.items():
        assert queue[queue_id]["from"] == f"s{index}@example.com"
        assert len(queue[queue_id]["recipients"]) == index + 1
        assert relayd.message_data(queue_id) == message


def test_duplicate_recipients_are_kept_once(relayd):
    client = smtp_client(relayd)
    queue_id = send(client, "s@example.com", ["a@example.net", "a@example.net", "b@example.net"],
                    simple_message())
    client.quit()
    recipients = [r["address"] for r in relayd.queue()[queue_id]["recipients"]]
    assert recipients == ["a@example.net", "b@example.net"]


def test_8bitmime_utf8_body(relayd):
    client = smtp_client(relayd)
    body = "Grüße aus Köln — 日本語のテキスト 🙂\r\n".encode("utf-8")
    message = simple_message("8bit", body)
    queue_id = send(client, "s@example.com", ["r@example.net"], message, ["BODY=8BITMIME"])
    client.quit()
    assert relayd.message_data(queue_id) == message
    details = show(relayd, queue_id)
    assert details["eight_bit"] is True and details["smtputf8"] is False


def test_smtputf8_addresses_are_accepted_with_smtputf8(relayd):
    client = smtp_client(relayd)
    sender = "jösé@exämple.com"
    recipient = "ünïcødé@bücher.example"
    message = ("From: jösé@exämple.com\r\nTo: ünïcødé@bücher.example\r\nSubject: ça va\r\n\r\n"
               "Привет\r\n").encode("utf-8")
    queue_id = send(client, sender, [recipient], message, ["SMTPUTF8", "BODY=8BITMIME"])
    client.quit()
    entry = relayd.queue()[queue_id]
    assert entry["from"] == sender
    assert [r["address"] for r in entry["recipients"]] == [recipient]
    assert relayd.message_data(queue_id) == message
    assert show(relayd, queue_id)["smtputf8"] is True


def test_utf8_addresses_without_smtputf8_get_553_5_6_7(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.expect("MAIL FROM:<jösé@exämple.com>", 553, "5.6.7")
        client.expect("MAIL FROM:<sender@example.com>", 250, "2.1.0")
        client.expect("RCPT TO:<ünï@example.net>", 553, "5.6.7")
        client.expect("RCPT TO:<user@bücher.example>", 553, "5.6.7")
        client.expect("DATA", 554, "5.5.1")  # no recipient was accepted
        client.expect("QUIT", 221, "2.0.0")
    assert relayd.queue() == {}


def test_rset_in_the_middle_of_a_transaction(relayd):
    client = smtp_client(relayd)
    assert client.mail("first@example.com")[0] == 250
    assert client.rcpt("first@example.net")[0] == 250
    code, text = client.rset()
    assert (code, text) == (250, b"2.0.0 Ok")
    # The envelope is gone: DATA now has no transaction.
    assert client.docmd("DATA")[0] == 503
    queue_id = send(client, "second@example.com", ["second@example.net"], simple_message())
    client.quit()
    queue = relayd.queue()
    assert list(queue) == [queue_id]
    assert queue[queue_id]["from"] == "second@example.com"


def test_rset_during_bdat_discards_the_chunks(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT 5\r\nHello")
        assert client.reply().code == 250
        client.expect("RSET", 250, "2.0.0")
        client.envelope(sender="again@example.com")
        client.send(b"BDAT 7 LAST\r\nAgain\r\n")
        queue_id = queue_id_of(client.reply())
    assert list(relayd.queue()) == [queue_id]
    assert relayd.message_data(queue_id) == b"Again\r\n"


def test_vrfy_noop_help_quit(relayd):
    client = smtp_client(relayd)
    code, text = client.verify("someone@example.net")
    assert code == 252 and text.startswith(b"2.5.2 "), text
    assert client.noop() == (250, b"2.0.0 Ok")
    code, text = client.docmd("NOOP", "with an argument")  # RFC 5321 §4.1.1.9: ignored
    assert code == 250
    code, text = client.docmd("HELP")
    assert code == 214 and text.startswith(b"2.0.0 "), text
    code, text = client.docmd("HELP", "MAIL")
    assert code == 214
    assert client.quit() == (221, b"2.0.0 Bye")


def test_quit_closes_the_connection(relayd):
    with SmtpClient(relayd.port) as client:
        assert client.greeting.code == 220 and client.greeting.text.startswith("relay.test ")
        client.expect("QUIT", 221, "2.0.0")
        assert client.closed()


def test_helo_then_mail(relayd):
    with SmtpClient(relayd.port) as client:
        reply = client.expect("HELO client.test", 250)
        assert reply.texts == ["relay.test"]
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert show(relayd, queue_id)["protocol"] == "SMTP"


def test_ehlo_reply_lists_the_extensions(relayd):
    with SmtpClient(relayd.port) as client:
        reply = client.ehlo()
    assert reply.texts[0] == "relay.test"
    assert set(reply.texts[1:]) == {"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                                     "CHUNKING"}


def test_pipelining_two_messages(relayd):
    first = simple_message("first", b"one\r\n.dot\r\n")
    second = simple_message("second", b"two\r\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.net>\r\n"
                    b"RCPT TO:<y@example.net>\r\nDATA\r\n")
        replies = client.replies(4)
        assert [(r.code, r.enhanced) for r in replies] == [
            (250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"), (354, None)]
        # The data, its terminator and the whole next group in one write.
        client.send(stuff(first) + b"MAIL FROM:<b@example.com>\r\nRCPT TO:<z@example.net>\r\n"
                    b"DATA\r\n")
        replies = client.replies(4)
        first_id = queue_id_of(replies[0])
        assert [(r.code, r.enhanced) for r in replies[1:]] == [
            (250, "2.1.0"), (250, "2.1.5"), (354, None)]
        client.send(stuff(second) + b"QUIT\r\n")
        second_id = queue_id_of(client.reply())
        assert client.reply().code == 221
        assert client.closed()
    queue = relayd.queue()
    assert set(queue) == {first_id, second_id}
    assert [r["address"] for r in queue[first_id]["recipients"]] == ["x@example.net",
                                                                      "y@example.net"]
    assert relayd.message_data(first_id) == first
    assert relayd.message_data(second_id) == second


def test_pipelined_group_with_failures_keeps_the_order(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<bad address>\r\n"
                    b"RCPT TO:<ok@example.net>\r\nNOOP\r\nDATA\r\n")
        replies = client.replies(5)
        assert [r.code for r in replies] == [250, 501, 250, 250, 354]
        assert replies[1].enhanced == "5.1.3"
        client.send(stuff(simple_message()))
        queue_id = queue_id_of(client.reply())
    assert [r["address"] for r in relayd.queue()[queue_id]["recipients"]] == ["ok@example.net"]


def test_many_messages_pipelined_in_one_write(relayd):
    """Everything after EHLO in a single write: the server must hold the input that arrives
    while each message is being committed, then go on in order."""
    messages = [simple_message(f"m{index}", b"x" * 300 + b"\r\n") for index in range(20)]
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        # DATA's 354 is not awaited: the server reads on in order (a client that knows its
        # recipients are accepted may do that, and nothing in between may be lost).
        client.send(b"".join(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n"
                             + stuff(message) for message in messages) + b"QUIT\r\n")
        ids = []
        for _ in messages:
            replies = client.replies(4)
            assert [r.code for r in replies[:3]] == [250, 250, 354]
            ids.append(queue_id_of(replies[3]))
        assert client.reply().code == 221
    assert len(set(ids)) == 20 and set(relayd.queue()) == set(ids)
    for queue_id, message in zip(ids, messages):
        assert relayd.message_data(queue_id) == message


def test_large_pipelined_input_is_held_in_order(relayd):
    """Far more than pending_input_bytes_max (64 KiB) of pipelined transactions: the server
    stops reading while each message is committed, and loses or reorders nothing."""
    messages = [simple_message(f"big {index}", ((b"%04d" % index) * 24 + b"\r\n") * 100)
                for index in range(60)]
    stream = b"".join(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n"
                      + stuff(message) for message in messages) + b"QUIT\r\n"
    assert len(stream) > 8 * 65536
    with SmtpClient(relayd.port, timeout=20) as client:
        client.ehlo()
        sender = threading.Thread(target=client.send, args=(stream,))
        sender.start()
        ids = []
        for _ in messages:
            replies = client.replies(4)
            assert [r.code for r in replies[:3]] == [250, 250, 354], replies
            ids.append(queue_id_of(replies[3]))
        assert client.reply().code == 221
        sender.join(10)
    assert set(relayd.queue()) == set(ids)
    for queue_id, message in list(zip(ids, messages))[::15]:
        assert relayd.message_data(queue_id) == message


def test_client_that_vanishes_mid_message_leaves_nothing(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(b"Subject: cut short\r\n\r\nsome of the body\r\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT 1000 LAST\r\nonly a little")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert list(relayd.queue()) == [queue_id]


def test_postmaster_without_domain_is_this_host(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope(sender="", recipients=["Postmaster"])
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    entry = relayd.queue()[queue_id]
    assert entry["from"] == ""
    assert [r["address"] for r in entry["recipients"]] == ["postmaster@relay.test"]


# --- BDAT (RFC 3030) ---------------------------------------------------------------------------

def test_bdat_several_chunks_and_an_empty_last_chunk(relayd):
    chunks = [b"From: <a@example.com>\r\nSubject: bdat\r\n\r\n", b"first part, ",
              b"second part\r\n.\r\n..\r\n", b"end\r\n"]
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        total = 0
        for chunk in chunks:
            client.send(b"BDAT %d\r\n" % len(chunk) + chunk)
            total += len(chunk)
            reply = client.reply()
            assert (reply.code, reply.enhanced) == (250, "2.0.0"), reply
            assert f"{total} octets" in reply.text
        client.send(b"BDAT 0 LAST\r\n")
        queue_id = queue_id_of(client.reply())
        client.expect("QUIT", 221)
    assert relayd.message_data(queue_id) == b"".join(chunks)


def test_bdat_end_of_data_sequence_is_stored_verbatim(relayd):
    """In a chunk, "\\r\\n.\\r\\n" and what follows are message bytes, not a terminator and
    commands; and dots are not unstuffed."""
    chunk = (b"Subject: chunk\r\n\r\nbefore\r\n.\r\nMAIL FROM:<evil@example.com>\r\n"
             b"RCPT TO:<victim@example.net>\r\nDATA\r\n..stuffed?\r\n")
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        queue_id = queue_id_of(client.reply())
        assert client.silent()  # no replies to the "commands" inside the chunk
        client.expect("NOOP", 250)
    assert list(relayd.queue()) == [queue_id]
    assert relayd.message_data(queue_id) == chunk


def test_bdat_chunk_split_across_writes(relayd):
    body = b"Subject: split\r\n\r\n" + (b"0123456789" * 50 + b"\r\n") * 100
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT %d LAST\r\n" % len(body))
        for offset in range(0, len(body), 7777):
            client.send(body[offset:offset + 7777])
        queue_id = queue_id_of(client.reply())
    assert relayd.message_data(queue_id) == body


def test_bdat_without_mail_consumes_the_chunk(relayd):
    chunk = b"QUIT\r\nNOOP\r\n"  # must be read as data, never as commands
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply
        assert client.silent()
        client.send(b"BDAT 4 LAST\r\nRSET")
        assert client.reply().code == 503
        assert client.silent()
        # Still in step: a normal transaction works.
        client.envelope()
        client.send(b"BDAT 6 LAST\r\nHello\n")
        reply = client.reply()
        # A bare LF is refused in the default mode; what matters here is that the session
        # answered this BDAT and nothing else.
        assert (reply.code, reply.enhanced) == (554, "5.6.0"), reply
        client.envelope()
        client.send(b"BDAT 7 LAST\r\nHello\r\n")
        queue_id = queue_id_of(client.reply())
        client.expect("QUIT", 221)
    assert list(relayd.queue()) == [queue_id]


def test_bdat_without_recipients_consumes_the_chunk(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.expect("MAIL FROM:<a@example.com>", 250)
        client.expect("RCPT TO:<>", 501, "5.1.3")
        client.send(b"BDAT 6 LAST\r\nQUIT\r\n")
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (554, "5.5.1"), reply
        assert client.silent()
        client.expect("NOOP", 250)
    assert relayd.queue() == {}


def test_data_after_bdat_is_refused(relayd):
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.send(b"BDAT 7\r\nHello\r\n")
        assert client.reply().code == 250
        client.expect("DATA", 503, "5.5.1")
        # The transaction is intact: more chunks complete it.
        client.send(b"BDAT 7 LAST\r\nWorld\r\n")
        queue_id = queue_id_of(client.reply())
    assert relayd.message_data(queue_id) == b"Hello\r\nWorld\r\n"


def test_bdat_pipelined_with_the_envelope(relayd):
    chunk = b"Subject: pipelined\r\n\r\nbody\r\n"
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
                    + b"BDAT %d LAST\r\n" % len(chunk) + chunk
                    + b"MAIL FROM:<c@example.com>\r\nRCPT TO:<d@example.net>\r\n"
                    + b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"QUIT\r\n")
        replies = client.replies(7)
        assert [r.code for r in replies] == [250, 250, 250, 250, 250, 250, 221]
        ids = [queue_id_of(replies[2]), queue_id_of(replies[5])]
    queue = relayd.queue()
    assert set(queue) == set(ids)
    assert queue[ids[1]]["from"] == "c@example.com"
    assert all(relayd.message_data(i) == chunk for i in ids)


# --- graceful stop -----------------------------------------------------------------------------

def connection_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_sigterm_lets_a_message_in_progress_finish(relayd_factory):
    # One worker: when the idle session hears of the shutdown, the busy one has too.
    relayd = relayd_factory(workers=1)
    message = simple_message("in flight", b"line\r\n" * 1000)
    stuffed = stuff(message)
    busy = SmtpClient(relayd.port)
    idle = SmtpClient(relayd.port)
    busy.ehlo()
    idle.ehlo()
    busy.envelope()
    busy.expect("DATA", 354)
    busy.send(stuffed[:3000])
    assert busy.silent(0.1)
    relayd.process.send_signal(signal.SIGTERM)
    reply = idle.reply()
    assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
    assert idle.closed()
    # No new sessions once stopping.
    wait_until(lambda: connection_refused(relayd.port), timeout=2, message="listener closed")
    busy.send(stuffed[3000:])
    queue_id = queue_id_of(busy.reply())
    reply = busy.reply()
    assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
    assert busy.closed()
    assert relayd.process.wait(timeout=10) == 0
    relayd.start()
    assert list(relayd.queue()) == [queue_id]
    assert relayd.message_data(queue_id) == message


def test_grace_period_ends_a_stalled_message(relayd_factory):
    relayd = relayd_factory(server="shutdown_grace_s = 1\n", workers=1)
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(b"Subject: never finished\r\n\r\npartial")
        assert client.silent(0.1)
        relayd.process.send_signal(signal.SIGTERM)
        assert relayd.process.wait(timeout=5) == 0
        assert client.closed(1)
    relayd.start()
    assert relayd.queue() == {}


# --- relayd --check-config ---------------------------------------------------------------------

def check_config(tmp_path, text, *, name="relayd.toml"):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    return subprocess.run([str(RELAYD), "--config", str(path), "--check-config"],
                          capture_output=True, text=True, timeout=10)


VALID = """
[[listener]]
address = "127.0.0.1:2525"
"""


def test_check_config_accepts_the_example_and_a_minimal_file(tmp_path):
    result = subprocess.run([str(RELAYD), "--config", str(REPO / "config/relayd.example.toml"),
                             "--check-config"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    result = check_config(tmp_path, VALID)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()  # a one-line summary
    assert not (tmp_path / "spool").exists()  # checking touches nothing


@pytest.mark.parametrize("extra, key", [
    ("[limits]\nrecipients_per_message_max = 0\n", "limits.recipients_per_message_max"),
    ("[limits]\ncommand_line_bytes_max = 100\n", "limits.command_line_bytes_max"),
    ("[limits]\nmessage_line_bytes_max = 78\n", "limits.message_line_bytes_max"),
    ("[timeouts]\ncommand_s = \"five\"\n", "timeouts.command_s"),
    ("[limits]\nrequire_valid_utf8 = 1\n", "limits.require_valid_utf8"),
    ("[server]\nlog_level = \"loud\"\n", "server.log_level"),
])
def test_check_config_names_a_bad_value(tmp_path, extra, key):
    result = check_config(tmp_path, VALID + extra)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], result.stderr


def test_check_config_bad_listener_value(tmp_path):
    text = VALID.replace('address = "127.0.0.1:2525"',
                         'address = "127.0.0.1:2525"\nbare_line_endings = "lenient"')
    result = check_config(tmp_path, text)
    assert result.returncode == 1
    assert "bare_line_endings" in result.stderr


def test_check_config_unknown_key(tmp_path):
    result = check_config(tmp_path, VALID + "[limits]\nrecipients_max = 5\n")
    assert result.returncode == 1
    assert "limits.recipients_max" in result.stderr and "unknown" in result.stderr
    result = check_config(tmp_path, VALID + "[limitz]\n")
    assert result.returncode == 1 and "limitz" in result.stderr


def test_check_config_reports_every_problem(tmp_path):
    result = check_config(tmp_path, VALID + "[limits]\nbogus = 1\nconnections_max = -1\n")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("limits.bogus" in line for line in lines)
    assert any("limits.connections_max" in line for line in lines)


def test_check_config_syntax_error_and_missing_listener(tmp_path):
    result = check_config(tmp_path, VALID + "[limits\n")
    assert result.returncode == 1 and result.stderr.strip()
    result = check_config(tmp_path, '[server]\nhostname = "relay.test"\n')
    assert result.returncode == 1 and "listener" in result.stderr


def test_check_config_missing_file_and_usage(tmp_path):
    result = check_config(tmp_path, None, name="absent.toml")
    assert result.returncode == 1
    assert "absent.toml" in result.stderr
    result = subprocess.run([str(RELAYD), "--check-config"], capture_output=True, timeout=10)
    assert result.returncode == 2
    result = subprocess.run([str(RELAYD), "--config"], capture_output=True, timeout=10)
    assert result.returncode == 2
    result = subprocess.run([str(RELAYD), "--config", "x.toml", "--bogus"],
                            capture_output=True, timeout=10)
    assert result.returncode == 2


def test_relayd_refuses_to_start_with_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(VALID + "[limits]\nbogus = 1\n")
    result = subprocess.run([str(RELAYD), "--config", str(path)], capture_output=True, text=True,
                            timeout=10)
    assert result.returncode == 1 and "limits.bogus" in result.stderr


def test_a_second_relayd_on_the_same_spool_exits_1(relayd):
    result = subprocess.run([str(RELAYD), "--config", str(relayd.config_path)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "spool" in result.stderr and "in use" in result.stderr, result.stderr
    with SmtpClient(relayd.port) as client:  # the running one is unharmed
        client.ehlo()


def test_a_second_relayd_on_the_same_port_exits_1(relayd, relayd_factory):
    other = relayd_factory(start=False, name="other")  # its own folder, hence its own spool
    other.config_path.write_text(relayd.config_path.read_text())
    second = subprocess.Popen([str(RELAYD), "--config", str(other.config_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Room for a sanitized build's start on a busy machine: one that binds never exits.
        _, errors = second.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        second.kill()
        _, errors = second.communicate()
        raise AssertionError(f"a second relayd runs on port {relayd.port}: {errors}")
    assert second.returncode == 1
    assert str(relayd.port) in errors, errors

"""test_bounce_listener.py -- the bounce listener of a real relayd (role = "bounce"), fed with
smtplib as a remote mail server would: a DSN to a VERP address of a message relayd delivered
puts the recipient on the resource's stop list (hard_bounce) and counts one hard bounce; an ARF
complaint sent without a token to the complaint address finds the message by its Message-ID
(complaint); soft bounces are counted until N in a row stop-list the address; a report larger
than [bounces] message_bytes_max is still read, answered and parsed as far as it was kept;
garbage is answered 250, counted and kept (at most unparsed_files_max files); another domain, a
local part that is no token, and a tampered token are refused at RCPT; a client outside the
relay listener's networks may still send reports to the bounce listener.

The real-MTA version, with Postfix writing the DSN, is test_bounce_postfix.py.
"""
import base64
import hashlib
import hmac
import json
import re
import smtplib
import time

import pytest

from conftest import free_port
from delivery_support import delivery_settings, network_fixture, wait_ready
from helpers import wait_until

BOUNCE_DOMAIN = "bounces.relay.test"
KEY = bytes(range(32))
FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\nclients = ["127.0.0.1/32"]\n'
VERP = re.compile(r"bounces\+[a-z2-7]{48}@" + re.escape(BOUNCE_DOMAIN))


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def bounce_settings(bounce_port, extra=""):
    return f"""
[[listener]]
name = "bounces"
address = "127.0.0.1:{bounce_port}"
role = "bounce"

[return_path]
bounce_domain = "{BOUNCE_DOMAIN}"
key = "{KEY.hex()}"

[bounces]
soft_bounces_to_hard = 3
{extra}
"""


def start(net, bounces_extra=""):
    receiver = net.receiver("127.0.0.2")
    route = f"127.0.0.2:{net.port}"
    bounce_port = free_port()
    settings = (delivery_settings(None, net.port, routes=[("example.net", route)]) + FAST_HASHES +
                bounce_settings(bounce_port, bounces_extra))
    relayd = net.factory(settings=settings, listener=AUTH_LISTENER, start=False)
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.start()
    wait_ready(relayd)
    relayd.bounce_port = bounce_port
    return relayd, receiver


def send(relayd, receiver, to, message_id=None):
    """Sends one message as acme/main to `to`; returns (VERP sender it went out with, its
    Message-ID)."""
    message_id = message_id or f"<{time.monotonic_ns()}@acme.example>"
    before = len(receiver.received)
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.login("acme/main", relayd.password)
    data = (f"From: <ann@acme.example>\r\nTo: <{to}>\r\nSubject: news\r\n"
            f"Message-ID: {message_id}\r\n\r\nHello.\r\n")
    client.sendmail("ann@acme.example", [to], data)
    client.quit()
    receiver.wait_for(before + 1)
    sender = receiver.received[before].mail_from
    assert VERP.fullmatch(sender), sender
    return sender, message_id


def make_verp(queue_id, resource, index, recipient, key=KEY):
    """A token as include/relay/bounce/verp.h lays it out (for messages the test names itself)."""
    token = (bytes([1]) + queue_id.to_bytes(8, "big") +
             hashlib.sha256(resource.encode()).digest()[:6] + index.to_bytes(2, "big") +
             hashlib.sha256(recipient.lower().encode()).digest()[:5])
    token += hmac.new(key, b"relay-verp-1" + token, hashlib.sha256).digest()[:8]
    return f"bounces+{base64.b32encode(token).decode().lower()}@{BOUNCE_DOMAIN}"


def dsn(recipient, status="5.1.1", action="failed", diagnostic="550 5.1.1 User unknown",
        original_id="<unknown@acme.example>", padding=b""):
    text = ("From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.net\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
            "--B\r\nContent-Type: message/rfc822\r\n\r\n"
            f"Message-ID: {original_id}\r\nFrom: ann@acme.example\r\nSubject: news\r\n\r\n")
    return text.encode() + padding + b"Hello.\r\n--B--\r\n"


def arf(message_id, to):
    """A complaint that names the original message only through its quoted headers."""
    return ("From: feedback@isp.example\r\nSubject: Abuse report\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n"
            "--F\r\nContent-Type: text/plain\r\n\r\nA user marked this message as spam.\r\n"
            "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n\r\n"
            "--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"Message-ID: {message_id}\r\nFrom: ann@acme.example\r\nTo: {to}\r\n"
            "Subject: news\r\n\r\n--F--\r\n").encode()


def report(relayd, recipient, data, source=None):
    """Sends a report with the null sender; returns the final reply's code."""
    client = smtplib.SMTP("127.0.0.1", relayd.bounce_port, timeout=20,
                          source_address=(source, 0) if source else None)
    client.ehlo("mx.example.net")
    assert client.mail("<>")[0] == 250
    code, text = client.rcpt(recipient)
    assert code == 250, text
    code, text = client.data(data)
    client.quit()
    return code, text.decode()


def stop_entry(relayd, address):
    out = json.loads(relayd.ctl("stoplist", "check", address, "--resource", "acme/main",
                                "--json").stdout)
    return out.get("entry")


def counts(relayd, *arguments):
    [column] = json.loads(relayd.ctl("stats", *arguments, "--json").stdout)["columns"]
    return column["counts"]


def no_resource_counts(relayd):
    columns = json.loads(relayd.ctl("stats", "--json").stdout)["columns"]
    return next((column["counts"] for column in columns if column["resource"] == ""), {})


def wait_count(relayd, name, value, *arguments):
    """Waits for the stats flusher (every 2 s) to have written `name` = `value`."""
    wait_until(lambda: counts(relayd, *arguments)[name] == value, timeout=10,
               message=f"{name} = {value} in stats {arguments}")


def test_a_dsn_to_a_token_stop_lists_the_recipient_and_counts_one_hard_bounce(net):
    relayd, receiver = start(net)
    sender, message_id = send(relayd, receiver, "gone@example.net")
    assert stop_entry(relayd, "gone@example.net") is None
    code, text = report(relayd, sender, dsn("gone@example.net", original_id=message_id))
    assert code == 250, text
    entry = stop_entry(relayd, "gone@example.net")
    assert entry is not None
    assert (entry["scope"], entry["reason"]) == ("acme/main", "hard_bounce")
    wait_count(relayd, "bounced_hard", 1, "--resource", "acme/main")
    resource = counts(relayd, "--resource", "acme/main")
    assert (resource["delivered"], resource["bounced_soft"], resource["stop_listed"]) == (1, 0, 1)
    # The Message-ID index gave the sender domain.
    assert counts(relayd, "--domain", "acme.example")["bounced_hard"] == 1
    # Counted under the report's reason too (5.1.1), as a delivery's 550 5.1.1 would be.
    wait_count(relayd, "bounce_reasons", {"no_such_user": 1}, "--domain", "acme.example")
    assert re.search(r"bounce: client=127\.0\.0\.1 resource=acme/main recipient=<gone@example\.net>"
                     r" kind=hard_bounce status=5\.1\.1 reason=no_such_user report=delivery_status"
                     r": stop-listed \(hard_bounce\)", relayd.log()), relayd.log()[-2000:]
    # The same report again: answered, counted, but the entry is not added twice.
    assert report(relayd, sender, dsn("gone@example.net"))[0] == 250
    wait_count(relayd, "bounced_hard", 2, "--resource", "acme/main")
    wait_count(relayd, "bounce_reasons", {"no_such_user": 2}, "--resource", "acme/main")
    assert counts(relayd, "--resource", "acme/main")["stop_listed"] == 1
    # The stop list is the one the relay listener checks: mail to the address is refused now.
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.login("acme/main", relayd.password)
    assert client.mail("ann@acme.example")[0] == 250
    assert client.rcpt("gone@example.net")[0] == 550
    client.quit()


def test_a_complaint_without_token_finds_the_message_by_its_message_id(net):
    relayd, receiver = start(net)
    _, message_id = send(relayd, receiver, "bob@example.net")
    code, text = report(relayd, f"complaints@{BOUNCE_DOMAIN}", arf(message_id, "bob@example.net"))
    assert code == 250, text
    entry = stop_entry(relayd, "bob@example.net")
    assert entry is not None and entry["reason"] == "complaint", entry
    wait_count(relayd, "complaints", 1, "--resource", "acme/main")
    assert counts(relayd, "--resource", "acme/main")["stop_listed"] == 1
    assert counts(relayd, "--domain", "acme.example")["complaints"] == 1
    # A complaint about a message relayd never sent names nobody.
    assert report(relayd, f"complaints@{BOUNCE_DOMAIN}",
                  arf("<never-sent@acme.example>", "carl@example.net"))[0] == 250
    wait_until(lambda: "no token and no known Message-ID" in relayd.log(), timeout=5,
               message="the log line of the unknown complaint")
    assert stop_entry(relayd, "carl@example.net") is None


def test_wrong_domain_other_local_parts_and_tampered_tokens_are_refused(net):
    relayd, receiver = start(net)
    sender, _ = send(relayd, receiver, "ann@example.net")
    local = sender.split("@")[0]
    tampered = local[:20] + ("a" if local[20] != "a" else "b") + local[21:] + "@" + BOUNCE_DOMAIN
    other_key = make_verp(1, "acme/main", 0, "ann@example.net", key=bytes(32))
    client = smtplib.SMTP("127.0.0.1", relayd.bounce_port, timeout=20)
    client.ehlo("mx.example.net")
    assert client.mail("<>")[0] == 250
    for address, expected in ((local + "@example.net", (550, "5.1.1")),
                              (f"info@{BOUNCE_DOMAIN}", (550, "5.1.1")),
                              (tampered, (550, "5.7.1")),
                              (other_key, (550, "5.7.1")),
                              (sender, (250, "2.1.5"))):
        code, text = client.rcpt(address)
        assert (code, text.decode().split()[0]) == expected, (address, code, text)
    client.quit()
    # No AUTH on the bounce listener.
    client = smtplib.SMTP("127.0.0.1", relayd.bounce_port, timeout=20)
    client.ehlo("mx.example.net")
    assert not client.has_extn("auth")
    client.quit()


def test_garbage_is_answered_counted_and_kept_within_the_folders_bound(net):
    relayd, _ = start(net, "unparsed_files_max = 2")
    folder = relayd.spool / "bounces-unparsed"
    garbage = [b"\x01\x02 binary?\r\n" + bytes([0x80 + n]) * 100 + b"\r\n" for n in range(3)]
    for index, data in enumerate(garbage):
        code, _ = report(relayd, f"postmaster@{BOUNCE_DOMAIN}", b"Subject: hello\r\n\r\n" + data)
        assert code == 250
        wait_until(lambda: len(list(folder.iterdir())) == min(index + 1, 2), timeout=5,
                   message="the kept report")
    kept = sorted(folder.iterdir())
    assert [path.read_bytes().endswith(data) for path, data in zip(kept, garbage[1:])] == [True,
                                                                                          True]
    # Under "no resource": no token named one.
    wait_until(lambda: no_resource_counts(relayd).get("reports_unparsed") == 3, timeout=10,
               message="three unparsed reports under no resource")
    assert relayd.process.poll() is None


def test_a_report_larger_than_the_limit_is_read_answered_and_parsed_as_far_as_kept(net):
    relayd, receiver = start(net, "message_bytes_max = 65536")
    sender, message_id = send(relayd, receiver, "big@example.net")
    padding = b"".join(b"x" * 76 + b"\r\n" for _ in range(4000))  # 312 KB of the original
    code, text = report(relayd, sender, dsn("big@example.net", original_id=message_id,
                                            padding=padding))
    assert code == 250, text
    entry = stop_entry(relayd, "big@example.net")
    assert entry is not None and entry["reason"] == "hard_bounce"


def test_a_client_outside_the_relay_listeners_networks_may_send_bounces(net):
    relayd, receiver = start(net)
    sender, _ = send(relayd, receiver, "far@example.net")
    # 127.0.0.9 is outside the relay listener's clients (127.0.0.1/32)...
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", relayd.port, timeout=20, source_address=("127.0.0.9", 0))
    assert refused.value.smtp_code == 554
    # ...and a mail server for the bounce listener.
    code, _ = report(relayd, sender, dsn("far@example.net"), source="127.0.0.9")
    assert code == 250
    assert stop_entry(relayd, "far@example.net")["reason"] == "hard_bounce"


def test_soft_bounces_in_a_row_stop_list_the_recipient(net):
    relayd, receiver = start(net)
    senders = [send(relayd, receiver, "full@example.net")[0] for _ in range(3)]
    soft = dict(status="4.2.2", action="failed", diagnostic="452 4.2.2 Mailbox full")
    for count, sender in enumerate(senders[:2], start=1):
        assert report(relayd, sender, dsn("full@example.net", **soft))[0] == 250
        wait_count(relayd, "bounced_soft", count, "--resource", "acme/main")
        assert stop_entry(relayd, "full@example.net") is None
    assert report(relayd, senders[2], dsn("full@example.net", **soft))[0] == 250
    entry = stop_entry(relayd, "full@example.net")
    assert entry is not None and entry["reason"] == "hard_bounce"
    wait_count(relayd, "bounced_hard", 1, "--resource", "acme/main")
    assert counts(relayd, "--resource", "acme/main")["bounced_soft"] == 2
    assert "run=3/3" in relayd.log()


def test_a_message_that_went_through_in_between_ends_the_run(net):
    relayd, receiver = start(net)
    soft = dict(status="4.2.2", action="failed", diagnostic="452 4.2.2 Mailbox full")
    first = send(relayd, receiver, "full@example.net")[0]
    assert report(relayd, first, dsn("full@example.net", **soft))[0] == 250
    # Two more messages are delivered to the server; only the second of them bounces.
    second = send(relayd, receiver, "full@example.net")[0]
    third = send(relayd, receiver, "full@example.net")[0]
    wait_count(relayd, "delivered", 3, "--resource", "acme/main")  # their outcomes are in
    assert second != third
    assert report(relayd, third, dsn("full@example.net", **soft))[0] == 250
    fourth = send(relayd, receiver, "full@example.net")[0]
    assert report(relayd, fourth, dsn("full@example.net", **soft))[0] == 250
    # Without the second message's delivery this would be three in a row.
    wait_count(relayd, "bounced_soft", 3, "--resource", "acme/main")
    assert stop_entry(relayd, "full@example.net") is None
    runs = re.findall(r"recipient=<full@example\.net> kind=soft_bounce .* run=(\d)/3", relayd.log())
    assert runs == ["1", "1", "2"], relayd.log()[-2000:]

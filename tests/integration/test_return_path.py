"""test_return_path.py -- the technical return path (VERP): with [return_path] bounce_domain,
each recipient's transaction has its own envelope sender bounces+TOKEN@BOUNCE-DOMAIN whose token
names the message and the recipient (checked here with a re-implementation of the decoder in
include/relay/bounce/verp.h), so three recipients at one destination make three transactions
on one connection; a DSN relayd makes still goes to the client's sender with a null MAIL FROM;
without a bounce domain nothing changes. A resource's own return path (relayctl resource
set-return-path) is used as it is, its recipients sharing a transaction, and once cleared the
resource's mail goes out under VERP again; what is not an address is refused.
"""
import base64
import hashlib
import hmac
import json
import re
import smtplib
import time

import pytest

from delivery_support import (SENDER, delivery_settings, message_bytes, message_id_of,
                              network_fixture, queue_entry, submit, wait_gone, wait_ready,
                              wait_until)

BOUNCE_DOMAIN = "bounces.relay.test"
KEY = bytes(range(32))
RETURN_PATH = f'[return_path]\nbounce_domain = "{BOUNCE_DOMAIN}"\nkey = "{KEY.hex()}"\n'


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def decode_verp(address, key=KEY):
    """The fields of a bounces+TOKEN address (verp.h's layout), or None when the tag fails."""
    match = re.fullmatch(r"bounces\+([a-z2-7]{48})@(.+)", address, re.I)
    if not match:
        return None
    token = base64.b32decode(match.group(1).upper())
    tag = hmac.new(key, b"relay-verp-1" + token[:22], hashlib.sha256).digest()[:8]
    if token[0] != 1 or not hmac.compare_digest(tag, token[22:]):
        return None
    return {"queue_id": token[1:9].hex().upper(),
            "resource": token[9:15],
            "recipient_index": int.from_bytes(token[15:17], "big"),
            "recipient": token[17:22],
            "domain": match.group(2)}


def fingerprint(text, octets):
    return hashlib.sha256(text.encode()).digest()[:octets]


def start(net, settings="", **receiver_options):
    receiver = net.receiver("127.0.0.2", **receiver_options)
    routes = [("example.net", f"127.0.0.2:{net.port}"), ("sender.test", f"127.0.0.9:{net.port}")]
    relayd = net.relayd(routes=routes, extra=settings)
    return relayd, receiver


def test_each_recipient_gets_its_own_verp_sender_in_its_own_transaction(net):
    relayd, receiver = start(net, RETURN_PATH)
    recipients = ["ann@example.net", "Bob@example.net", "cy@example.net"]
    queue_id = submit(relayd, SENDER, recipients, message_bytes("verp", to=recipients[0]))
    wait_gone(relayd, queue_id)
    assert len(receiver.received) == 3
    assert {item.connection for item in receiver.received} == {1}  # one connection, reused
    seen = {}
    for item in receiver.received:
        assert len(item.recipients) == 1
        token = decode_verp(item.mail_from)
        assert token is not None, item.mail_from
        assert token["domain"] == BOUNCE_DOMAIN
        assert token["queue_id"] == queue_id
        assert token["resource"] == fingerprint("", 6)  # accepted without AUTH
        index = token["recipient_index"]
        assert token["recipient"] == fingerprint(recipients[index].lower(), 5)
        assert item.recipients == [recipients[index]]
        assert len(item.mail_from.split("@")[0]) <= 64
        seen[index] = item.data
    assert sorted(seen) == [0, 1, 2]
    # The stored message is not rewritten: each copy has the same bytes after the trace fields.
    bodies = {data[data.index(b"From: "):] for data in seen.values()}
    assert len(bodies) == 1
    # Another key does not verify the token.
    assert decode_verp(receiver.received[0].mail_from, key=bytes(32)) is None


def test_without_a_bounce_domain_the_clients_sender_goes_out_in_one_transaction(net):
    relayd, receiver = start(net)
    recipients = ["ann@example.net", "bob@example.net", "cy@example.net"]
    queue_id = submit(relayd, SENDER, recipients, message_bytes("plain", to=recipients[0]))
    wait_gone(relayd, queue_id)
    assert len(receiver.received) == 1
    assert receiver.received[0].mail_from == SENDER
    assert receiver.received[0].recipients == recipients


def test_a_message_without_message_id_gets_the_one_kept_in_its_spool_record(net):
    relayd, receiver = start(net, rcpt_script={"ann@example.net": ["451 4.2.0 later", "250 ok"]})
    original = (b"From: <sender@sender.test>\r\nTo: <ann@example.net>\r\nSubject: no id\r\n"
                b"\r\nHi.\r\n")
    queue_id = submit(relayd, SENDER, ["ann@example.net"], original)
    wait_until(lambda: receiver.rcpt_events, timeout=10, message="the first attempt")
    added = queue_entry(relayd, queue_id)["added_message_id"]
    assert re.fullmatch(rf"<{queue_id}\.[0-9a-f]{{16}}@relay\.test>", added), added
    wait_gone(relayd, queue_id)
    data = receiver.received[0].data
    assert message_id_of(data) == added
    assert data.endswith(original)  # prepended, the stored message unchanged
    # One that has a Message-ID gets none added.
    queue_id = submit(relayd, SENDER, ["bob@example.net"],
                      message_bytes("has id", to="bob@example.net"))
    wait_gone(relayd, queue_id)
    assert receiver.received[1].data.count(b"Message-ID:") == 1


def test_a_dsn_goes_to_the_clients_sender_with_a_null_mail_from(net):
    box = net.sender_box()
    relayd, receiver = start(net, RETURN_PATH,
                             rcpt_script={"gone@example.net": ["550 5.1.1 no such user"]})
    queue_id = submit(relayd, SENDER, ["ann@example.net", "gone@example.net"],
                      message_bytes("dsn", to="ann@example.net"))
    wait_gone(relayd, queue_id)
    wait_until(lambda: box.received, timeout=15, message="the DSN at the sender's box")
    dsn = box.received[0]
    assert dsn.mail_from == ""
    assert dsn.recipients == [SENDER]
    assert b"gone@example.net" in dsn.data
    delivered = [item for item in receiver.received if item.recipients == ["ann@example.net"]]
    assert len(delivered) == 1
    assert decode_verp(delivered[0].mail_from)["recipient_index"] == 0


FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[store]
refresh_interval_ms = 100
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\nclients = ["127.0.0.0/8"]\n'


def start_with_resource(net, **receiver_options):
    """relayd with VERP configured and resource acme/main (domain acme.example) logging in."""
    receiver = net.receiver("127.0.0.2", **receiver_options)
    routes = [("example.net", f"127.0.0.2:{net.port}")]
    settings = delivery_settings(None, net.port, routes=routes) + RETURN_PATH + FAST_HASHES
    relayd = net.factory(settings=settings, listener=AUTH_LISTENER, start=False)
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver


def send_as_resource(relayd, subject, recipients):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo("client.test")
    client.login("acme/main", relayd.password)
    client.sendmail("ann@acme.example", recipients,
                    f"From: <ann@acme.example>\r\nTo: <{recipients[0]}>\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{subject}@acme.example>\r\n\r\nHi.\r\n")
    client.quit()


def delivered(receiver, subject, count):
    wait_until(lambda: len([item for item in receiver.received
                            if subject.encode() in item.data]) >= count,
               timeout=15, message=f"{subject} delivered")
    return [item for item in receiver.received if subject.encode() in item.data]


def test_a_resources_own_return_path_is_used_as_it_is_in_one_transaction(net):
    relayd, receiver = start_with_resource(net)
    recipients = ["ann@example.net", "bob@example.net"]
    # Its own domain need not be one of the resource's.
    shown = relayd.ctl("resource", "set-return-path", "acme/main", "Returns@Handler.Example.ORG",
                       "--json")
    assert json.loads(shown.stdout)["return_path"] == "Returns@handler.example.org"
    listed = json.loads(relayd.ctl("resource", "list", "--json").stdout)
    assert listed[0]["return_path"] == "Returns@handler.example.org"
    time.sleep(0.5)  # relayd reads the tenants anew within refresh_interval_ms (100)
    send_as_resource(relayd, "own-path", recipients)
    items = delivered(receiver, "own-path", 1)
    assert len(items) == 1
    assert items[0].mail_from == "Returns@handler.example.org"
    assert items[0].recipients == recipients

    # Cleared: the resource's next message goes out under VERP again, one transaction each.
    relayd.ctl("resource", "set-return-path", "acme/main", "--clear")
    time.sleep(0.5)
    send_as_resource(relayd, "verp-again", recipients)
    items = delivered(receiver, "verp-again", 2)
    tokens = [decode_verp(item.mail_from) for item in items]
    assert all(tokens), [item.mail_from for item in items]
    assert tokens[0]["resource"] == fingerprint("acme/main", 6)
    assert sorted(token["recipient_index"] for token in tokens) == [0, 1]


def test_the_return_path_is_fixed_when_the_message_is_accepted(net):
    relayd, receiver = start_with_resource(
        net, rcpt_script={"ann@example.net": ["451 4.2.0 try later", "250 2.1.5 ok"]})
    relayd.ctl("resource", "set-return-path", "acme/main", "first@returns.example")
    time.sleep(0.5)
    send_as_resource(relayd, "fixed", ["ann@example.net"])
    wait_until(lambda: receiver.rcpt_events, timeout=10, message="the first attempt")
    relayd.ctl("resource", "set-return-path", "acme/main", "second@returns.example")
    items = delivered(receiver, "fixed", 1)  # the retry, a second later
    assert [event.reply[:3] for event in receiver.rcpt_events] == ["451", "250"]
    assert {event.mail_from for event in receiver.rcpt_events} == {"first@returns.example"}
    assert items[0].mail_from == "first@returns.example"


def test_set_return_path_refuses_what_is_not_an_address(net):
    relayd, _ = start_with_resource(net)
    refused = relayd.ctl("resource", "set-return-path", "acme/main", "not an address",
                         check=False)
    assert refused.returncode == 1
    assert "is not a valid return path" in refused.stderr
    assert refused.stderr.count("\n") == 1
    usage = relayd.ctl("resource", "set-return-path", "acme/main", check=False)
    assert usage.returncode == 2, usage.stderr
    missing = relayd.ctl("resource", "set-return-path", "acme/none", "a@x.example", check=False)
    assert missing.returncode == 1

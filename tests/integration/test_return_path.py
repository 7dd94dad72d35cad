"""test_return_path.py -- the technical return path (VERP): with [return_path] bounce_domain,
each recipient's transaction has its own envelope sender bounces+TOKEN@BOUNCE-DOMAIN whose token
names the message and the recipient (checked here with a re-implementation of the decoder in
include/relay/bounce/verp.h), so three recipients at one destination make three transactions
on one connection; a DSN relayd makes still goes to the client's sender with a null MAIL FROM;
without a bounce domain nothing changes.
"""
import base64
import hashlib
import hmac
import re

import pytest

from delivery_support import (SENDER, message_bytes, network_fixture, submit, wait_gone,
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

"""test_delivery_data.py -- what leaves relayd is what the client handed in: the same bytes, with
only trace header fields prepended, whether relayd sends them with DATA (dot-stuffed, RFC 5321
§4.5.2) to a server without CHUNKING or with BDAT (RFC 3030) to one that offers it; SMTPUTF8
envelopes (RFC 6531) reach a server that offers SMTPUTF8 and bounce (5.6.7) at one that does
not; many recipients of one domain travel in one transaction; a message of a few MB, streamed
in pieces, arrives whole both ways.

The server without CHUNKING is aiosmtpd. The server with CHUNKING is a second relayd, whose
spool is read back with `relayctl queue show ID --data`; a TCP proxy between the two records
the commands the sending relayd used.
"""
import re

import pytest

from conftest import free_port
from delivery_support import (BODY_PIECE_BYTES, SENDER, delivery_settings, large_message,
                              message_bytes, parse_dsn, queue_entry, wait_ready,
                              message_id_of, network_fixture, strip_prefix, submit,
                              submit_bdat, wait_gone, wait_until)


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


DOT_BODY = (b"First line.\r\n"
            b".starts with a dot\r\n"
            b"..starts with two dots\r\n"
            b".\r\n"
            b"...\r\n"
            b" .space then dot\r\n"
            b"\r\n"
            b".\r\n"
            b"last line\r\n")


def bodies():
    """(name, message bytes, submit with BDAT): every tricky line, and a message whose last
    line has no CRLF (possible with BDAT only)."""
    return [
        ("dots", message_bytes("dots", to="user@data.test", body=DOT_BODY), False),
        ("no-final-crlf", message_bytes("no final crlf", to="user@data.test",
                                        body=DOT_BODY + b".the end, no line break"), True),
        ("lone-dot-last", message_bytes("lone dot last", to="user@data.test",
                                        body=b"text\r\n."), True),
    ]


def expected_delivery(original):
    # A last line without CRLF gets one: SMTP cannot carry a message that lacks it.
    return original if original.endswith(b"\r\n") else original + b"\r\n"


def send(relayd, original, bdat):
    if bdat:
        return submit_bdat(relayd, SENDER, ["user@data.test"], original)
    return submit(relayd, SENDER, ["user@data.test"], original)


def test_data_without_chunking_is_byte_identical(net):
    net.dnsmasq(mx=[("data.test", "mx.data.test", 10)], hosts=[("mx.data.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2")
    relayd = net.relayd()
    cases = bodies()
    for _, original, bdat in cases:
        send(relayd, original, bdat)
    received = receiver.wait_for(len(cases))
    by_id = {item.message_id: item for item in received}
    for name, original, _ in cases:
        item = by_id[message_id_of(original)]
        prefix, rest = strip_prefix(item.data, original)
        assert rest == expected_delivery(original), name
        assert b"by relay.test" in prefix, prefix
    wait_until(lambda: not relayd.queue(), message="an empty queue")


def test_bdat_to_a_chunking_server_is_byte_identical(net):
    # The receiving side is another relayd; it keeps what it gets (its own deliveries go to a
    # port where nothing listens, and are retried only in an hour).
    downstream = net.factory(
        settings=delivery_settings(None, 25, retry="[3600]",
                                   routes=[("*", f"127.0.0.1:{free_port()}")]),
        name="downstream")
    spy = net.spy(downstream.port)
    relayd = net.relayd(routes=[("data.test", f"127.0.0.1:{spy.port}")])
    cases = bodies()
    for _, original, bdat in cases:
        queue_id = send(relayd, original, bdat)
        wait_gone(relayd, queue_id)
    stored = {}
    for queue_id in downstream.queue():
        data = downstream.message_data(queue_id)
        stored[message_id_of(data)] = data
    assert len(stored) == len(cases)
    for name, original, _ in cases:
        prefix, rest = strip_prefix(stored[message_id_of(original)], original)
        assert rest == expected_delivery(original), name
        assert b"by relay.test" in prefix, prefix
    sent = bytes(spy.client_bytes)
    assert b"\r\nBDAT " in sent, "CHUNKING was offered, so BDAT should have been used"
    assert b"\r\nDATA\r\n" not in sent


def test_large_message_is_streamed_whole_with_data_and_with_bdat(net):
    net.dnsmasq(mx=[("data.test", "mx.data.test", 10)], hosts=[("mx.data.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2")
    downstream = net.factory(
        settings=delivery_settings(None, 25, retry="[3600]",
                                   routes=[("*", f"127.0.0.1:{free_port()}")]),
        name="downstream")
    spy = net.spy(downstream.port)
    relayd = net.relayd(routes=[("bdat.test", f"127.0.0.1:{spy.port}")],
                        extra=f"body_piece_bytes = {BODY_PIECE_BYTES}")
    with_data = large_message("large with DATA", to="user@data.test")
    with_bdat = large_message("large with BDAT", to="user@bdat.test")
    submit(relayd, SENDER, ["user@data.test"], with_data)
    queue_id = submit(relayd, SENDER, ["user@bdat.test"], with_bdat)
    [received] = receiver.wait_for(1, timeout=30)
    _, rest = strip_prefix(received.data, with_data)
    assert rest == with_data
    wait_gone(relayd, queue_id, timeout=30)
    [stored] = [downstream.message_data(stored_id) for stored_id in downstream.queue()]
    _, rest = strip_prefix(stored, with_bdat)
    assert rest == with_bdat
    assert b"\r\nBDAT " in bytes(spy.client_bytes)


def test_a_copy_damaged_on_disk_is_never_delivered_whole(net):
    # The message waits in the spool (its destination is down); a byte of its second chunk is
    # then damaged on disk. When it goes out, the damage is found while it streams: the
    # connection is dropped before the end of the data, and the sender gets a DSN (5.3.0).
    net.dnsmasq()
    sender_box = net.sender_box()
    settings = "cache_bytes_max = 0\nchunk_bytes = 65536\n" + delivery_settings(
        net.dns, net.port, retry="[3600]", routes=[("damaged.test", f"127.0.0.3:{net.port}")])
    relayd = net.factory(settings=settings, name="relayd")
    wait_ready(relayd)
    marker = b"the line whose byte is damaged"
    body = b"".join(b"line %06d %s\r\n" % (index, b"z" * 60) for index in range(3000))
    body = body[:100_000] + marker + b"\r\n" + body[100_000:]
    data = message_bytes("damaged", to="user@damaged.test", body=body)
    queue_id = submit(relayd, SENDER, ["user@damaged.test"], data)
    wait_until(lambda: queue_entry(relayd, queue_id)["attempts"] >= 1, message="a first attempt")

    damaged = 0
    for segment in (relayd.spool / "segments").iterdir():
        content = bytearray(segment.read_bytes())
        at = content.find(marker)
        if at >= 0:
            content[at] ^= 0x20
            segment.write_bytes(bytes(content))
            damaged += 1
    assert damaged == 1
    receiver = net.receiver("127.0.0.3", hostname="mx.damaged.test")
    relayd.ctl("queue", "retry", queue_id)

    [dsn] = sender_box.wait_for(1, timeout=20, what="the DSN for the damaged copy")
    _, _, [recipient], _ = parse_dsn(dsn.data)
    assert recipient["status"] == "5.3.0", recipient
    # relayd's own failure, not a remote host's: no Remote-MTA, no Diagnostic-Code (RFC 3464
    # §2.3.5-6); the reason is in the text for the sender.
    assert "remote-mta" not in recipient and "diagnostic-code" not in recipient, recipient
    # The sender gets an incident id to quote, the log the detail; no file names in the DSN.
    match = re.search(rb"the queued copy of the message is damaged \(incident\s+([0-9A-Z]{10})\)",
                      dsn.data)
    assert match, dsn.data.decode(errors="replace")[:3000]
    assert b"segment" not in dsn.data.lower()
    incident = match.group(1).decode()
    wait_until(lambda: re.search(f"incident {incident}: .*damaged", relayd.log()),
               message=f"the log line of incident {incident}")
    assert receiver.received == [], "a damaged message was delivered"
    wait_gone(relayd, queue_id)


def test_smtputf8_to_a_server_that_offers_it(net):
    idn = "bücher.test".encode("idna").decode()
    net.dnsmasq(mx=[("utf8.test", "mx.utf8.test", 10), (idn, "mx.utf8.test", 10)],
                hosts=[("mx.utf8.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2", smtputf8=True)
    relayd = net.relayd()
    recipients = ["δοκιμή@utf8.test", "user@bücher.test"]
    data = message_bytes("utf8", to="δοκιμή@utf8.test",
                         body="Grüße, δοκιμή.\r\n".encode("utf-8"))
    queue_id = submit(relayd, SENDER, recipients, data, smtputf8=True, eight_bit=True)
    received = receiver.wait_for(2)
    assert sorted(r for item in received for r in item.recipients) == sorted(recipients)
    for item in received:
        assert "SMTPUTF8" in [option.upper() for option in item.mail_options], item
        assert item.mail_from == SENDER
        _, rest = strip_prefix(item.data, data)
        assert rest == data
    wait_gone(relayd, queue_id)


def test_smtputf8_to_a_server_without_it_bounces(net):
    net.dnsmasq(mx=[("ascii.test", "mx.ascii.test", 10)], hosts=[("mx.ascii.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2", smtputf8=False)
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[3600]")
    data = message_bytes("utf8 to ascii", to="δοκιμή@ascii.test")
    queue_id = submit(relayd, SENDER, ["δοκιμή@ascii.test"], data, smtputf8=True)
    [dsn] = sender_box.wait_for(1, what="the DSN for the SMTPUTF8 message")
    message, _, [recipient], _ = parse_dsn(dsn.data)
    assert recipient["status"] == "5.6.7", recipient
    assert "δοκιμή@ascii.test" in recipient["final-recipient"], recipient
    text = message.get_payload()[0].get_payload(decode=True).decode("utf-8", "replace")
    assert "SMTPUTF8" in text, text
    assert receiver.received == []
    assert not any("δοκιμή" in event.address for event in receiver.rcpt_events)
    wait_gone(relayd, queue_id)


def test_many_recipients_of_one_domain_share_one_transaction(net):
    net.dnsmasq(mx=[("many.test", "mx.many.test", 10)], hosts=[("mx.many.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2")
    relayd = net.relayd()
    recipients = [f"user{index:02d}@many.test" for index in range(25)]
    queue_id = submit(relayd, SENDER, recipients, message_bytes("many", to=recipients[0]))
    [received] = receiver.wait_for(1)
    assert received.recipients == recipients
    assert receiver.transactions == 1 and receiver.connections == 1
    assert len(receiver.rcpt_events) == len(recipients)
    wait_gone(relayd, queue_id)

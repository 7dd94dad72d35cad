"""test_delivery_outcomes.py -- what happens after the receiving server answers: 4xx is retried
(and the message arrives once), greylisting is waited out, 5xx bounces with a DSN (RFC 3464) to
the sender, one message with mixed per-recipient answers gets each recipient its own outcome, and
mail from the null sender is never bounced.

Receivers are aiosmtpd servers with scripted replies; the sender's domain (sender.test) has its
own receiver, where the DSNs arrive and are parsed with Python's email package.
"""
import pytest

from delivery_support import (SENDER, message_bytes, message_id_of, network_fixture, parse_dsn,
                              submit, wait_attempted, wait_gone, wait_until)


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def dns_for(net, domain, address):
    net.dnsmasq(mx=[(domain, f"mx.{domain}", 10)], hosts=[(f"mx.{domain}", address)])


def test_temporary_failure_is_retried_and_arrives_once(net):
    dns_for(net, "retry.test", "127.0.0.2")
    data = message_bytes("tempfail", to="user@retry.test")
    message_id = message_id_of(data)
    receiver = net.receiver("127.0.0.2", data_script={
        message_id: ["451 4.3.0 Temporary local problem, try again", "250 2.0.0 Ok"]})
    # A long schedule: the message waits until `relayctl queue retry` asks for it.
    relayd = net.relayd(retry="[3600]")
    queue_id = submit(relayd, SENDER, ["user@retry.test"], data)

    entry = wait_attempted(relayd, queue_id)
    assert entry["attempts"] == 1
    assert "451 4.3.0 Temporary local problem" in entry["last_error"], entry
    assert "127.0.0.2" in entry["last_error"] or "mx.retry.test" in entry["last_error"], entry
    assert [r["status"] for r in entry["recipients"]] == ["pending"], entry
    assert entry["next_attempt"] != "-"
    assert receiver.received == []

    relayd.ctl("queue", "retry", queue_id)
    [received] = receiver.wait_for(1)
    assert received.message_id == message_id
    wait_gone(relayd, queue_id)
    assert receiver.message_ids() == [message_id]  # exactly once
    assert not relayd.queue()


def test_greylisting_is_waited_out(net):
    dns_for(net, "grey.test", "127.0.0.2")
    receiver = net.receiver("127.0.0.2", greylist=True)
    relayd = net.relayd(retry="[1]")
    data = message_bytes("greylisted", to="user@grey.test")
    queue_id = submit(relayd, SENDER, ["user@grey.test"], data)
    [received] = receiver.wait_for(1, timeout=20)
    assert received.recipients == ["user@grey.test"]
    replies = [event.reply for event in receiver.rcpts("user@grey.test")]
    assert replies[0].startswith("451 4.7.1") and replies[-1].startswith("250"), replies
    wait_gone(relayd, queue_id)
    assert len(receiver.received) == 1


def test_permanent_failure_bounces_to_the_sender(net):
    dns_for(net, "bounce.test", "127.0.0.2")
    receiver = net.receiver("127.0.0.2", hostname="mx.bounce.test", rcpt_script={
        "nobody@bounce.test": ["550 5.1.1 <nobody@bounce.test>: Recipient address rejected"]})
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[3600]")
    data = message_bytes("will bounce", to="nobody@bounce.test",
                         extra_headers=b"X-Original-Marker: kept in the DSN\r\n")
    queue_id = submit(relayd, SENDER, ["nobody@bounce.test"], data)

    [dsn] = sender_box.wait_for(1, what="the DSN at the sender's domain")
    assert dsn.mail_from == "", "a DSN comes from the null sender"
    assert dsn.recipients == [SENDER]
    message, per_message, [recipient], original = parse_dsn(dsn.data)
    assert message["To"] and SENDER in message["To"]
    assert message["Auto-Submitted"] == "auto-replied"
    assert per_message["reporting-mta"] == "dns; relay.test"
    assert recipient["final-recipient"].lower() == "rfc822; nobody@bounce.test"
    assert recipient["action"] == "failed"
    assert recipient["status"] == "5.1.1"
    assert recipient["remote-mta"] == "dns; mx.bounce.test"
    assert recipient["diagnostic-code"] == (
        "smtp; 550 5.1.1 <nobody@bounce.test>: Recipient address rejected"), recipient
    assert "Subject: will bounce" in original
    assert "X-Original-Marker: kept in the DSN" in original
    assert message_id_of(data) in original
    assert receiver.received == []
    wait_gone(relayd, queue_id, timeout=5)
    assert not relayd.queue(), "the DSN was delivered, the original is gone"


def test_mixed_recipients_get_their_own_outcomes(net):
    dns_for(net, "mixed.test", "127.0.0.2")
    receiver = net.receiver("127.0.0.2", hostname="mx.mixed.test", rcpt_script={
        "gone@mixed.test": ["550 5.1.1 <gone@mixed.test>: no such user"],
        "later@mixed.test": ["451 4.2.1 <later@mixed.test>: mailbox busy", "250 2.1.5 Ok"]})
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[1]")
    recipients = ["ok@mixed.test", "gone@mixed.test", "later@mixed.test"]
    data = message_bytes("mixed", to="ok@mixed.test")
    queue_id = submit(relayd, SENDER, recipients, data)

    first, second = receiver.wait_for(2, timeout=20, what="the first and the retried delivery")
    assert first.recipients == ["ok@mixed.test"]
    assert second.recipients == ["later@mixed.test"]
    # The first transaction named all three; the retry only the deferred one.
    assert [e.address for e in receiver.rcpt_events if e.transaction == 1] == recipients
    assert [e.address for e in receiver.rcpt_events if e.transaction > 1] == ["later@mixed.test"]

    [dsn] = sender_box.wait_for(1, what="the DSN for the rejected recipient")
    _, _, failed, _ = parse_dsn(dsn.data)
    assert [r["final-recipient"].lower() for r in failed] == ["rfc822; gone@mixed.test"]
    assert failed[0]["status"] == "5.1.1"
    wait_gone(relayd, queue_id)
    assert len(receiver.received) == 2, "each accepted recipient got the message once"
    assert len(sender_box.received) == 1


def test_no_dsn_for_the_null_sender(net):
    dns_for(net, "bounce.test", "127.0.0.2")
    receiver = net.receiver("127.0.0.2", rcpt_script={
        "nobody@bounce.test": ["550 5.1.1 <nobody@bounce.test>: no such user"]})
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[3600]")
    data = message_bytes("a bounce itself", sender="MAILER-DAEMON@other.test",
                         to="nobody@bounce.test")
    queue_id = submit(relayd, "", ["nobody@bounce.test"], data)
    wait_until(lambda: receiver.rcpts("nobody@bounce.test"), message="the RCPT at the receiver")
    wait_until(lambda: "status=bounced" in relayd.log(), message="the bounce in the log")
    wait_gone(relayd, queue_id)
    # A notification would be queued in the same commit that drops the original.
    assert not relayd.queue()
    assert sender_box.connections == 0 and receiver.received == []
    assert "sender notification" not in relayd.log()

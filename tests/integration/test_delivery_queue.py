"""test_delivery_queue.py -- an operator's control of the queue with relayctl while relayd
delivers: `queue list --domain D` (and the resource column: none without AUTH),
`queue summary` (count, oldest, last error per destination),
`queue retry ID` and `retry --all` (deliver now instead of at the next scheduled retry),
`queue delete ID` (gone, no DSN), `queue bounce ID` (DSN to the sender), and the errors a user
meets: an unknown queue id, and relayd not running.

Destinations start down (nothing listens at their MX host); the retry schedule is an hour, so
anything that arrives did so because of the operator's command.
"""
import json

import pytest

from delivery_support import (SENDER, message_bytes, network_fixture, parse_dsn, submit,
                              wait_attempted, wait_gone)
from helpers import wait_until

UNKNOWN_ID = "0123456789ABCDEF"


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


@pytest.fixture
def down(net):
    """relayd with two destinations that are down: down.test (127.0.0.5) and other.test
    (127.0.0.6), and an hour between retries."""
    net.dnsmasq(mx=[("down.test", "mx.down.test", 10), ("other.test", "mx.other.test", 10)],
                hosts=[("mx.down.test", "127.0.0.5"), ("mx.other.test", "127.0.0.6")])
    net.sender_box()
    return net.relayd(retry="[3600]")


def queue_deferred(relayd, recipient, subject):
    queue_id = submit(relayd, SENDER, [recipient], message_bytes(subject, to=recipient))
    wait_attempted(relayd, queue_id)
    return queue_id


def test_list_by_domain_and_summary(net, down):
    first = queue_deferred(down, "a@down.test", "first")
    second = queue_deferred(down, "b@down.test", "second")
    third = queue_deferred(down, "c@other.test", "third")

    listed = json.loads(down.ctl("queue", "list", "--domain", "down.test", "--json").stdout)
    assert sorted(m["id"] for m in listed) == sorted([first, second])
    listed = json.loads(down.ctl("queue", "list", "--domain", "other.test", "--json").stdout)
    assert [m["id"] for m in listed] == [third]
    text = down.ctl("queue", "list", "--domain", "down.test").stdout
    assert first in text and second in text and third not in text, text

    rows = {row["destination"]: row
            for row in json.loads(down.ctl("queue", "summary", "--json").stdout)}
    assert set(rows) == {"down.test", "other.test"}
    assert rows["down.test"]["messages"] == 2 and rows["other.test"]["messages"] == 1
    assert "127.0.0.5" in rows["down.test"]["last_error"], rows
    assert "refused" in rows["down.test"]["last_error"].lower(), rows
    assert "127.0.0.6" in rows["other.test"]["last_error"], rows
    assert rows["down.test"]["oldest"] != "-" and rows["down.test"]["oldest_age_s"] >= 0
    text = down.ctl("queue", "summary").stdout
    assert "down.test" in text and "other.test" in text and "refused" in text.lower(), text


def test_mail_accepted_without_auth_has_no_resource(net, down):
    """The listener has no AUTH: the queue shows no resource ("-"), `--resource` leaves the
    message out, and the delivery log line says `resource=-`."""
    queue_id = queue_deferred(down, "a@down.test", "anonymous")
    [listed] = json.loads(down.ctl("queue", "list", "--json").stdout)
    assert listed["id"] == queue_id and listed["resource"] == "", listed
    text = down.ctl("queue", "list").stdout
    header, row = text.splitlines()[:2]
    assert "RESOURCE" in header.split(), text
    assert row.split()[header.split().index("RESOURCE")] == "-", text
    assert json.loads(down.ctl("queue", "list", "--resource", "demo/main", "--json").stdout) == []
    text = down.ctl("queue", "list", "--resource", "demo/main").stdout
    assert queue_id not in text and "0 messages" in text, text
    # The queue commands of relayd leave it alone too.
    for verb in ("retry", "delete", "bounce"):
        result = down.ctl("queue", verb, "--resource", "demo/main")
        assert f"{verb}: 0 messages" in result.stdout, result.stdout
    assert list(down.queue()) == [queue_id]
    shown = down.ctl("queue", "show", queue_id).stdout
    assert "resource:     -\n" in shown, shown
    assert json.loads(down.ctl("queue", "show", queue_id, "--json").stdout)["resource"] == ""
    # The log is written in batches: the line may reach the file up to 50 ms after the attempt.
    wait_until(lambda: f"{queue_id}: to=<a@down.test>, relay=none, status=deferred, resource=- ("
               in down.log(), timeout=5, message="the deferral's log line with resource=-")


def test_retry_id_delivers_at_once(net, down):
    queue_id = queue_deferred(down, "user@down.test", "retry me")
    other = queue_deferred(down, "user2@down.test", "not me")
    receiver = net.receiver("127.0.0.5")
    result = down.ctl("queue", "retry", queue_id)
    assert "1 message" in result.stdout, result.stdout
    [received] = receiver.wait_for(1, timeout=5)
    assert received.recipients == ["user@down.test"]
    wait_gone(down, queue_id)
    assert list(down.queue()) == [other], "only the message named was retried"


def test_retry_all(net, down):
    ids = [queue_deferred(down, "one@down.test", "one"),
           queue_deferred(down, "two@down.test", "two"),
           queue_deferred(down, "three@other.test", "three")]
    at_down = net.receiver("127.0.0.5")
    at_other = net.receiver("127.0.0.6")
    down.ctl("queue", "retry", "--all")
    at_down.wait_for(2, timeout=5)
    at_other.wait_for(1, timeout=5)
    for queue_id in ids:
        wait_gone(down, queue_id)


def test_delete_sends_no_dsn(net, down):
    queue_id = queue_deferred(down, "user@down.test", "delete me")
    down.ctl("queue", "delete", queue_id)
    wait_gone(down, queue_id, timeout=5)
    # A notification would be queued in the same commit that drops the original.
    assert not down.queue()
    assert net.sender_box().connections == 0
    wait_until(lambda: f"{queue_id}: to=<user@down.test>, resource=-, deleted by the operator"
               in down.log(), timeout=5, message="the deletion in the log")


def test_bounce_sends_a_dsn(net, down):
    queue_id = queue_deferred(down, "user@down.test", "bounce me")
    down.ctl("queue", "bounce", queue_id)
    [dsn] = net.sender_box().wait_for(1, timeout=5, what="the DSN of `queue bounce`")
    assert dsn.mail_from == "" and dsn.recipients == [SENDER]
    _, _, [recipient], original = parse_dsn(dsn.data)
    assert recipient["final-recipient"].lower() == "rfc822; user@down.test"
    assert recipient["action"] == "failed" and recipient["status"].startswith("5.")
    assert "Subject: bounce me" in original
    wait_gone(down, queue_id)


def test_unknown_and_malformed_ids(down):
    for verb in ("retry", "delete", "bounce", "show"):
        result = down.ctl("queue", verb, UNKNOWN_ID, check=False)
        assert result.returncode == 1, (verb, result)
        assert f"no message {UNKNOWN_ID}" in result.stderr, (verb, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr  # one line
    result = down.ctl("queue", "retry", "not-an-id", check=False)
    assert result.returncode == 1 and "not a queue id" in result.stderr, result


def test_retry_without_relayd_running(net, down):
    queue_id = queue_deferred(down, "user@down.test", "stopped")
    assert down.stop() == 0
    result = down.ctl("queue", "retry", queue_id, check=False)
    assert result.returncode == 1, result
    assert "relayd is not running" in result.stderr, result.stderr
    # Reading the queue needs no running relayd.
    assert queue_id in down.queue()

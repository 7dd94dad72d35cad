"""test_delivery_routing.py -- where relayd takes a message: MX order, fallback to the next MX
host, implicit MX, null MX, static routes (RFC 5321 §5.1, RFC 7505).

relayd resolves through a real DNS server (dnsmasq, authoritative for "test") and delivers to
real receiving servers (aiosmtpd) on 127.0.0.N; what a user notices is where the message
arrives, and that a domain which accepts no mail earns the sender a bounce at once.
"""
import pytest

from delivery_support import (SENDER, message_bytes, network_fixture, parse_dsn, submit,
                              wait_gone, wait_until)


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


MX_PAIR = [("pair.test", "mx-a.pair.test", 10), ("pair.test", "mx-b.pair.test", 20)]
MX_PAIR_HOSTS = [("mx-a.pair.test", "127.0.0.2"), ("mx-b.pair.test", "127.0.0.3")]


def test_lowest_preference_down_falls_back_to_next(net):
    net.dnsmasq(MX_PAIR, MX_PAIR_HOSTS)
    host_b = net.receiver("127.0.0.3")  # nothing listens on 127.0.0.2
    relayd = net.relayd()
    data = message_bytes("fallback", to="user@pair.test")
    queue_id = submit(relayd, SENDER, ["user@pair.test"], data)
    [received] = host_b.wait_for(1)
    assert received.recipients == ["user@pair.test"]
    assert received.mail_from == SENDER
    assert received.data.endswith(data)
    wait_gone(relayd, queue_id)


def test_lowest_preference_up_gets_the_message(net):
    net.dnsmasq(MX_PAIR, MX_PAIR_HOSTS)
    host_a = net.receiver("127.0.0.2")
    host_b = net.receiver("127.0.0.3")
    relayd = net.relayd()
    for index in range(3):
        submit(relayd, SENDER, ["user@pair.test"], message_bytes(f"preferred {index}"))
    host_a.wait_for(3)
    wait_gone_all(relayd)
    assert host_b.received == [] and host_b.connections == 0


def test_implicit_mx_uses_the_domain_address(net):
    # No MX record, only an A record: the domain itself is the mail host.
    net.dnsmasq(hosts=[("implicit.test", "127.0.0.4")])
    host = net.receiver("127.0.0.4")
    relayd = net.relayd()
    queue_id = submit(relayd, SENDER, ["user@implicit.test"], message_bytes("implicit"))
    [received] = host.wait_for(1)
    assert received.recipients == ["user@implicit.test"]
    wait_gone(relayd, queue_id)


def test_null_mx_bounces_at_once(net):
    dns = net.dnsmasq(mx=[("nullmx.test", ".", 0)])
    if dns.mx("nullmx.test") != [(0, ".")]:
        pytest.skip("this dnsmasq cannot serve a null MX (--mx-host=DOMAIN,.,0)")
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[3600]")
    data = message_bytes("to a null MX", to="user@nullmx.test")
    queue_id = submit(relayd, SENDER, ["user@nullmx.test"], data)
    [dsn] = sender_box.wait_for(1, what="the DSN for the null MX domain")
    assert dsn.mail_from == "" and dsn.recipients == [SENDER]
    _, _, [recipient], original = parse_dsn(dsn.data)
    assert recipient["final-recipient"].lower() == "rfc822; user@nullmx.test"
    assert recipient["action"] == "failed"
    assert recipient["status"] == "5.1.10", recipient
    assert "Subject: to a null MX" in original
    wait_gone(relayd, queue_id, timeout=2)


def test_unknown_domain_bounces(net):
    # NXDOMAIN from the authoritative server: the domain does not exist (550 5.1.2).
    net.dnsmasq()
    sender_box = net.sender_box()
    relayd = net.relayd(retry="[3600]")
    queue_id = submit(relayd, SENDER, ["user@nowhere.test"], message_bytes("nowhere"))
    [dsn] = sender_box.wait_for(1, what="the DSN for a domain that does not exist")
    _, _, [recipient], _ = parse_dsn(dsn.data)
    assert recipient["status"] == "5.1.2", recipient
    wait_gone(relayd, queue_id, timeout=2)


def test_static_route_wins_over_dns(net):
    net.dnsmasq(MX_PAIR, MX_PAIR_HOSTS)
    host_a = net.receiver("127.0.0.2")
    smarthost = net.receiver("127.0.0.6")
    relayd = net.relayd(routes=[("pair.test", f"127.0.0.6:{net.port}")])
    queue_id = submit(relayd, SENDER, ["user@pair.test"], message_bytes("routed"))
    [received] = smarthost.wait_for(1)
    assert received.recipients == ["user@pair.test"]
    wait_gone(relayd, queue_id)
    assert host_a.connections == 0


def wait_gone_all(relayd, timeout=15.0):
    wait_until(lambda: not relayd.queue(), timeout=timeout, message="an empty queue")

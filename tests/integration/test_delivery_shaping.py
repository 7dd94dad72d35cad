"""test_delivery_shaping.py -- limits per destination hold for the whole process, whatever the
number of workers ([[shaping]]: connections_max, messages_per_second), and a route is looked up
again once its DNS answers' TTL has passed.

A real receiving server (aiosmtpd on 127.0.0.N) counts the sessions it has open at once and
notes when each message arrives; a real DNS server (dnsmasq) logs the queries it answers.
"""
import time

import pytest

from delivery_support import SENDER, message_bytes, network_fixture, submit, wait_gone, wait_until


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def shaping(domain, **limits):
    return "\n".join(["", "[[shaping]]", f'domain = "{domain}"',
                      *(f"{key} = {value}" for key, value in limits.items())]) + "\n"


def submit_many(relayd, domain, count):
    return [submit(relayd, SENDER, [f"user{index}@{domain}"],
                   message_bytes(f"shaped {index}", to=f"user{index}@{domain}"))
            for index in range(count)]


def wait_all_gone(relayd, ids, timeout=60):
    for queue_id in ids:
        wait_gone(relayd, queue_id, timeout=timeout)


@pytest.mark.parametrize("workers", [2, 4])
def test_connections_max_holds_across_workers(net, workers):
    # Each message takes 0.2 s at the receiver, so every worker wants more connections than
    # the rule gives: before, each worker opened its own connections_per_host_max.
    receiver = net.receiver("127.0.0.2", data_delay_s=0.2)
    route = ("shaped.test", f"127.0.0.2:{net.port}")
    relayd = net.relayd(workers=workers, routes=[route],
                        extra="connections_per_host_max = 20\n" +
                              shaping("shaped.test", connections_max=3))
    ids = submit_many(relayd, "shaped.test", 40)
    receiver.wait_for(40, timeout=60)
    wait_all_gone(relayd, ids)
    assert receiver.concurrent_max <= 3, receiver.concurrent_max
    assert receiver.concurrent_max >= 2, "the rule's connections were never used in parallel"


def test_default_limit_is_process_wide(net):
    # Without a rule, connections_per_host_max counts the connections of all workers.
    receiver = net.receiver("127.0.0.3", data_delay_s=0.2)
    route = ("plain.test", f"127.0.0.3:{net.port}")
    relayd = net.relayd(workers=4, routes=[route], extra="connections_per_host_max = 2\n")
    ids = submit_many(relayd, "plain.test", 24)
    receiver.wait_for(24, timeout=60)
    wait_all_gone(relayd, ids)
    assert receiver.concurrent_max == 2, receiver.concurrent_max


def test_messages_per_second_holds_across_workers(net):
    receiver = net.receiver("127.0.0.4")
    route = ("rated.test", f"127.0.0.4:{net.port}")
    rate = 5
    relayd = net.relayd(workers=4, routes=[route],
                        extra=shaping("rated.test", connections_max=4, messages_per_second=rate))
    count = 20
    ids = submit_many(relayd, "rated.test", count)
    received = receiver.wait_for(count, timeout=60)
    wait_all_gone(relayd, ids)
    times = sorted(message.at for message in received)
    # Spaced 1/rate apart (a little less for the receiver's own timing).
    assert times[-1] - times[0] >= (count - 1) / rate * 0.85, times
    # No second saw more than the rate (one more for where a window's edges fall).
    for first in times:
        in_window = sum(1 for at in times if first <= at < first + 1.0)
        assert in_window <= rate + 1, (in_window, times)


def test_route_is_asked_again_after_its_ttl(net):
    # One worker: each worker keeps its own routes.
    dns = net.dnsmasq(mx=[("ttl.test", "mx.ttl.test", 10)], hosts=[("mx.ttl.test", "127.0.0.5")],
                      ttl=2)
    receiver = net.receiver("127.0.0.5")
    relayd = net.relayd(workers=1, extra="dns_ttl_s_min = 1\ndns_ttl_s_max = 3600\n")

    def send(index):
        queue_id = submit(relayd, SENDER, ["user@ttl.test"],
                          message_bytes(f"ttl {index}", to="user@ttl.test"))
        receiver.wait_for(index + 1)
        wait_gone(relayd, queue_id)

    send(0)
    assert dns.queries("MX", "ttl.test") == 1, dns.log()
    send(1)  # within the TTL: the route is reused
    assert dns.queries("MX", "ttl.test") == 1, dns.log()
    time.sleep(2.5)
    send(2)
    wait_until(lambda: dns.queries("MX", "ttl.test") == 2, timeout=5,
               message="a second MX query after the TTL")


def test_ttl_is_bounded_below(net):
    dns = net.dnsmasq(mx=[("floor.test", "mx.floor.test", 10)],
                      hosts=[("mx.floor.test", "127.0.0.6")], ttl=1)
    receiver = net.receiver("127.0.0.6")
    relayd = net.relayd(workers=1, extra="dns_ttl_s_min = 30\n")
    for index in range(2):
        queue_id = submit(relayd, SENDER, ["user@floor.test"],
                          message_bytes(f"floor {index}", to="user@floor.test"))
        receiver.wait_for(index + 1)
        wait_gone(relayd, queue_id)
        time.sleep(1.5)
    assert dns.queries("MX", "floor.test") == 1, dns.log()


def test_idle_destination_is_dropped(net):
    # The answer could be kept an hour, but the destination was idle longer than
    # destination_idle_s: what the worker kept for it (the route included) is gone.
    dns = net.dnsmasq(mx=[("idle.test", "mx.idle.test", 10)],
                      hosts=[("mx.idle.test", "127.0.0.7")], ttl=3600)
    receiver = net.receiver("127.0.0.7")
    relayd = net.relayd(workers=1, extra="destination_idle_s = 1\n")
    for index in range(2):
        queue_id = submit(relayd, SENDER, ["user@idle.test"],
                          message_bytes(f"idle {index}", to="user@idle.test"))
        receiver.wait_for(index + 1)
        wait_gone(relayd, queue_id)
        if index == 0:
            assert dns.queries("MX", "idle.test") == 1, dns.log()
            # The connection closes after 2 s without work; then 1 s idle and a sweep.
            time.sleep(4.5)
    assert dns.queries("MX", "idle.test") == 2, dns.log()


def test_messages_per_connection_max_of_a_rule(net):
    receiver = net.receiver("127.0.0.8", data_delay_s=0.05)
    route = ("reuse.test", f"127.0.0.8:{net.port}")
    relayd = net.relayd(workers=1, routes=[route],
                        extra=shaping("reuse.test", connections_max=1,
                                      messages_per_connection_max=2))
    ids = submit_many(relayd, "reuse.test", 6)
    received = receiver.wait_for(6)
    wait_all_gone(relayd, ids)
    per_connection = {}
    for message in received:
        per_connection[message.connection] = per_connection.get(message.connection, 0) + 1
    assert max(per_connection.values()) <= 2, per_connection
    assert receiver.concurrent_max == 1

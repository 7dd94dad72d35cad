"""Cluster mode with Redis over TLS (docs/cluster.md, "Redis over TLS"): Debian's redis-server
listens on a TLS port only, with a password, and two relayd nodes reach it through stunnel, a
TLS client on loopback that verifies the server's chain and name. Redis refuses plaintext on
that port, so what works here went over TLS: logins, a domain added on one node and used on the
other, and a rate limit of 5 that accepts exactly 5 messages across both nodes. A wrong password
stops relayctl and relayd with the line the documentation names, and a tunnel that expects
another host name in the certificate carries nothing."""
import socket
import time

import pytest

from conftest import relayd_maker
from helpers import QueuedRelayd, wait_until
from redis_support import RedisServer, StunnelClient, add_resource, login, mail_from_code

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), tls=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tunnel(tmp_path_factory, redis):
    client = StunnelClient(tmp_path_factory.mktemp("stunnel"), redis).start()
    yield client
    client.stop()


@pytest.fixture(scope="module")
def maker(tmp_path_factory):
    generator = relayd_maker(tmp_path_factory.mktemp("nodes"), QueuedRelayd)
    yield next(generator)
    next(generator, None)


@pytest.fixture(scope="module")
def fleet(maker, redis, tunnel):
    address = f"127.0.0.1:{tunnel.port}"
    nodes = [maker(settings=FAST_HASHES + redis.cluster_settings(f"n{index}", address=address),
                   listener=AUTH_LISTENER, start=False, name=f"node{index}")
             for index in range(2)]
    nodes[0].ctl("project", "add", "acme", "--max-resources", "10")
    for node in nodes:
        node.start()
    return nodes


def test_redis_refuses_plaintext_on_its_tls_port(redis):
    with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as plain:
        plain.sendall(f"AUTH {redis.password}\r\nPING\r\n".encode())
        received = b""
        try:
            while chunk := plain.recv(100):
                received += chunk
        except ConnectionResetError:
            pass
    # No RESP reply at all: the server waited for a TLS ClientHello and closed.
    assert b"+OK" not in received and b"PONG" not in received, received


def test_a_domain_added_on_one_node_is_usable_on_the_other_through_tls(fleet):
    password = add_resource(fleet[0], "acme/dom", "first.example")
    client = login(fleet[1], "acme/dom", password)  # AUTH on the node that did not add it
    assert mail_from_code(client, "a@first.example") == 250
    assert mail_from_code(client, "a@second.example") != 250
    fleet[0].ctl("domain", "add", "acme/dom", "second.example")
    wait_until(lambda: mail_from_code(client, "a@second.example") == 250, timeout=5,
               interval=0.01, message="the other node accepts the new domain")
    client.quit()


def test_the_rate_limit_is_counted_across_the_nodes_through_tls(fleet):
    password = add_resource(fleet[0], "acme/rate", "rate.example")
    fleet[1].ctl("resource", "set-limit", "acme/rate", "--messages", "5", "--window", "120")
    clients = [login(node, "acme/rate", password) for node in fleet]
    time.sleep(1.5)  # both nodes' snapshots have the limit (notified within a second)
    codes = []
    for attempt in range(10):
        client = clients[attempt % 2]
        code, text = client.mail("a@rate.example")
        if code == 250:
            assert client.rcpt("b@example.net")[0] == 250
            code, text = client.data(b"From: <a@rate.example>\r\nTo: <b@example.net>\r\n"
                                     b"Subject: r\r\n\r\nhello\r\n")
        else:
            client.rset()
            assert text.decode().startswith("4.7.1 rate limit of 5 messages per 120 s"), text
        codes.append(code)
    assert codes.count(250) == 5 and codes.count(451) == 5, codes
    assert sum(len(node.queue()) for node in fleet) == 5
    for client in clients:
        client.quit()


def test_a_wrong_password_is_named_by_relayctl_and_relayd(maker, redis, tunnel):
    address = f"127.0.0.1:{tunnel.port}"
    node = maker(settings=FAST_HASHES + redis.cluster_settings("wrong", address=address,
                                                               password="not-the-password"),
                 listener=AUTH_LISTENER, start=False, name="wrong")
    refused = node.ctl("project", "list", check=False)
    assert refused.returncode == 1, refused
    assert refused.stderr.startswith(f"relayctl: Redis {address} refused the password: "
                                     "WRONGPASS"), refused.stderr
    node.start(wait=False)
    node.process.wait(timeout=15)
    assert node.process.returncode == 1
    assert (f"relayd: Redis {address} refused the password: WRONGPASS" in node.log()), node.log()


def test_a_tunnel_expecting_another_name_carries_nothing(maker, redis, tmp_path):
    """stunnel checks the name in Redis's certificate: one that expects another host (a
    certificate that is not this Redis's) closes every connection before Redis sees a byte."""
    impostor = StunnelClient(tmp_path / "stunnel", redis, host="other.test").start()
    address = f"127.0.0.1:{impostor.port}"
    node = maker(settings=FAST_HASHES + redis.cluster_settings("other", address=address),
                 listener=AUTH_LISTENER, start=False, name="other")
    refused = node.ctl("project", "list", check=False)
    impostor.stop()
    assert refused.returncode == 1, refused
    assert refused.stderr.startswith(f"relayctl: Redis {address} unreachable: "), refused.stderr
    assert "Rejected by CERT at depth=0: CN=redis.test" in impostor.log(), impostor.log()

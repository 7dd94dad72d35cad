"""The rate limit of one resource across three relayd nodes sharing Redis (cluster mode): 8
logged-in clients spread over the nodes try 300 messages against a limit of 100 per window and
exactly 100 are accepted fleet-wide, the rest `451 4.7.1`. With Redis stopped, the nodes answer
`451 4.3.0` once the grace period is over; with Redis back, they accept again, without a
restart. A limit raised on every node adds only the difference: the messages already sent stay
in the window, and nodes stopped give back every unit they held. The same tenant is created in
each node's own store (`shared_store = false`)."""
import re
import smtplib
import subprocess
import threading
import time

import pytest

from helpers import relayd_factory, wait_until  # noqa: F401 (fixture: delivery held)
from redis_support import RedisServer

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'
GRACE_MS = 3000
PASSWORD = "Cluster-Test-Password-1"
# The limiter alone: each node keeps its own tenant store, so that Redis restarted empty loses
# only the rate counts (test_cluster_store.py covers the shared store).
LIMITER_ONLY = "shared_store = false\n"


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def fleet(relayd_factory, redis):  # noqa: F811
    """Three nodes with acme/main (acme.example) limited to 100 messages per 120 s, each with
    its own password for it (each node has its own store)."""
    nodes = []
    for index in range(3):
        node = relayd_factory(settings=FAST_HASHES + redis.cluster_settings(f"n{index}", GRACE_MS)
                              + LIMITER_ONLY,
                              listener=AUTH_LISTENER, start=False, name=f"node{index}")
        node.ctl("project", "add", "acme")
        added = node.ctl("resource", "add", "acme/main").stdout
        node.password = re.search(r"password: (\S+)", added).group(1)
        node.ctl("domain", "add", "acme/main", "acme.example")
        node.ctl("resource", "set-limit", "acme/main", "--messages", "100", "--window", "120")
        nodes.append(node.start())
    for node in nodes:
        wait_until(lambda node=node: "cluster: Redis 127.0.0.1" in node.log() and
                   "ready" in node.log(), message="each node reaches Redis")
    return nodes


def logged_in(node):
    client = smtplib.SMTP("127.0.0.1", node.port, timeout=30)
    client.ehlo()
    client.login("acme/main", node.password)
    return client


def send(client):
    """One transaction: MAIL's reply if it is refused, else DATA's."""
    code, text = client.mail("a@acme.example")
    if code != 250:
        client.rset()
        return code, text.decode()
    assert client.rcpt("b@example.net")[0] == 250
    code, text = client.data(b"From: <a@acme.example>\r\nTo: <b@example.net>\r\nSubject: t\r\n"
                             b"\r\nhello\r\n")
    return code, text.decode()


def burst(clients, attempts_total):
    """The clients share `attempts_total` transactions, each on its own thread."""
    attempts = iter(range(attempts_total))
    lock = threading.Lock()
    outcomes = []

    def run(client):
        while True:
            with lock:
                if next(attempts, None) is None:
                    return
            outcome = send(client)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_three_nodes_accept_exactly_the_limit_and_fail_closed_without_redis(fleet, redis):
    clients = [logged_in(fleet[index % 3]) for index in range(8)]
    outcomes = burst(clients, 300)
    accepted = [o for o in outcomes if o[0] == 250]
    refused = [o for o in outcomes if o[0] != 250]
    assert len(outcomes) == 300
    assert len(accepted) == 100, (len(accepted), refused[:5])
    assert all(code == 451 and text.startswith("4.7.1 rate limit of 100 messages per 120 s")
               for code, text in refused), refused[:5]
    # Every node took part: the limit was shared, not met by one node alone.
    queued = [len(node.queue()) for node in fleet]
    assert sum(queued) == 100 and min(queued) > 0, queued

    # Redis goes away: within the grace the nodes still know the limit is reached (4.7.1);
    # after it, the limit cannot be checked (4.3.0).
    redis.stop()
    stopped = time.monotonic()
    code, text = send(clients[0])
    assert (code, text[:5]) == (451, "4.7.1"), text
    time.sleep(max(0.0, stopped + GRACE_MS / 1000 + 0.5 - time.monotonic()))
    for client in clients[:3]:
        code, text = send(client)
        assert (code, text) == (451, "4.3.0 Error: the rate limit cannot be checked now; try "
                                     "again later"), text

    # Redis is back (empty: it kept nothing on disk): every node accepts again, no restart.
    redis.start()
    for index, client in enumerate(clients[:3]):
        wait_until(lambda client=client: send(client)[0] == 250, timeout=15,
                   message=f"node {index} accepts again once Redis is back")
    for node in fleet:
        assert node.process.poll() is None
    for client in clients:
        client.quit()


def test_a_raised_limit_adds_only_the_difference_across_the_fleet(fleet):
    clients = [logged_in(fleet[index % 3]) for index in range(6)]
    outcomes = burst(clients, 150)
    assert sum(1 for code, _ in outcomes if code == 250) == 100
    # Raised to 150 on every node: the 100 already sent stay in the window, 50 more go.
    for node in fleet:
        node.ctl("resource", "set-limit", "acme/main", "--messages", "150", "--window", "120")
    time.sleep(2.5)  # every node's snapshot refresh (1 s) has seen it
    outcomes = burst(clients, 150)
    accepted = sum(1 for code, _ in outcomes if code == 250)
    refused = [text for code, text in outcomes if code != 250]
    assert accepted == 50, (accepted, refused[:3])
    assert all(text.startswith("4.7.1 rate limit of 150 messages per 120 s") for text in refused)
    assert sum(len(node.queue()) for node in fleet) == 150
    for client in clients:
        client.quit()


def leases_outstanding(redis):
    keys = subprocess.run(["redis-cli", "-p", str(redis.port), "-a", redis.password,
                           "--no-auth-warning", "HKEYS", "relay:rate:{acme/main}:leases"],
                          capture_output=True, text=True, check=True).stdout.split()
    return [key for key in keys if key not in ("n", "w", "next")]


def test_nodes_give_their_units_back_when_they_stop(fleet, redis):
    clients = [logged_in(fleet[index % 3]) for index in range(6)]
    outcomes = burst(clients, 30)
    assert all(code == 250 for code, _ in outcomes), outcomes[:3]
    for client in clients:
        client.quit()
    # Below the limit, each node keeps what it leased (used units for a second, spare ones
    # while its clients send): Redis counts them as leased until they come back.
    assert leases_outstanding(redis)
    for node in fleet:
        assert node.stop() == 0
    assert leases_outstanding(redis) == []

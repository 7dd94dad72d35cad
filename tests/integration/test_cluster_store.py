"""The shared store of cluster mode: three relayd nodes and one redis-server on loopback, the
tenants created once, through one node's relayctl. A change made on any node holds on the
others within a second (each node's snapshot is refreshed on the change notification), and a
password changed on one node works on all, the statistics of the three nodes add up in one
report, and a stop-list entry added through one node refuses
the address on the others within a second; with Redis stopped, the nodes keep refusing it and,
after the grace, refuse logins with 454 4.7.0 until Redis is back. One
Redis and one fleet serve the whole module; each test uses names of its own, and the test that
stops Redis comes last."""
import json
import re
import smtplib
import time
import urllib.request

import pytest

from conftest import free_port, relayd_maker
from helpers import QueuedRelayd, wait_until
from redis_support import RedisServer, add_resource, login, mail_from_code

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'
GRACE_MS = 3000
# The snapshots' own poll is slow here, so that only the change notification can make a change
# visible within a second.
SLOW_POLL = "\n[store]\nrefresh_interval_ms = 30000\n"
# Logins tried before a change arrives fail; they must not lock the test's address out.
NO_THROTTLE = "\n[limits]\nauth_failures_before_delay = 0\nauth_failures_before_lockout = 0\n"


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, redis):
    maker = relayd_maker(tmp_path_factory.mktemp("fleet"), QueuedRelayd)
    make = next(maker)
    nodes = []
    for index in range(3):
        admin_port = free_port()
        settings = (SLOW_POLL + NO_THROTTLE + FAST_HASHES +
                    f'\n[admin]\nlisten = "127.0.0.1:{admin_port}"\n' +
                    redis.cluster_settings(f"n{index}", GRACE_MS))
        node = make(settings=settings, listener=AUTH_LISTENER, start=False, name=f"node{index}")
        node.admin_port = admin_port
        nodes.append(node)
    nodes[0].ctl("project", "add", "acme", "--max-resources", "10")
    for node in nodes:
        node.start()
    yield nodes
    next(maker, None)


def test_a_domain_added_on_one_node_is_usable_on_the_others_within_a_second(fleet):
    password = add_resource(fleet[0], "acme/dom", "first.example")
    clients = [login(node, "acme/dom", password) for node in fleet[1:]]
    for client in clients:
        assert mail_from_code(client, "a@second.example") != 250
    fleet[0].ctl("domain", "add", "acme/dom", "second.example")
    added = time.monotonic()
    for index, client in enumerate(clients, start=1):
        wait_until(lambda client=client: mail_from_code(client, "a@second.example") == 250,
                   timeout=5, interval=0.01, message=f"node {index} accepts the new domain")
    assert time.monotonic() - added < 1.0
    for client in clients:
        client.quit()


def test_a_password_changed_on_one_node_works_on_the_others(fleet):
    old = add_resource(fleet[0], "acme/pw", "pw.example")
    changed = fleet[1].ctl("resource", "passwd", "acme/pw").stdout
    new = re.search(r"password: (\S+)", changed).group(1)
    for index, node in enumerate(fleet):
        wait_until(lambda node=node: login_works(node, "acme/pw", new), timeout=5,
                   interval=0.1, message=f"node {index} takes the new password")
        assert not login_works(node, "acme/pw", old)


def login_reply(node, username, password):
    """AUTH's reply as (code, text); (235, "") when it succeeds."""
    try:
        login(node, username, password).quit()
        return 235, ""
    except smtplib.SMTPAuthenticationError as error:
        return error.smtp_code, error.smtp_error.decode()


def login_works(node, username, password):
    try:
        login(node, username, password).quit()
        return True
    except smtplib.SMTPAuthenticationError:
        return False


def test_the_quota_holds_across_nodes(fleet):
    """The rules are the store's: a domain belongs to one resource, whichever node is asked."""
    add_resource(fleet[0], "acme/q1", "owned.example")
    add_resource(fleet[1], "acme/q2", "other.example")
    refused = fleet[2].ctl("domain", "add", "acme/q2", "owned.example", check=False)
    assert refused.returncode == 1
    assert "domain owned.example already belongs to resource acme/q1" in refused.stderr


def test_statistics_of_the_three_nodes_sum_in_one_report(fleet):
    password = add_resource(fleet[0], "acme/stats", "stats.example")
    for index, node in enumerate(fleet):
        client = login(node, "acme/stats", password)
        for _ in range(index + 1):  # 1, 2 and 3 messages: 6 in all
            client.sendmail("a@stats.example", ["b@example.net"],
                            b"From: <a@stats.example>\r\nTo: <b@example.net>\r\n"
                            b"Subject: s\r\n\r\nhello\r\n")
        client.quit()

    def accepted(node):
        report = json.loads(node.ctl("stats", "--resource", "acme/stats", "--json").stdout)
        return report["columns"][0]["counts"]["accepted"]

    # Each node flushes its counts every 2 s; any node's report has all of them.
    wait_until(lambda: accepted(fleet[2]) == 6, timeout=10, message="the fleet's 6 counted")
    assert [accepted(node) for node in fleet] == [6, 6, 6]


def rcpt_code(client, sender, recipient):
    assert client.mail(sender)[0] == 250
    code, _ = client.rcpt(recipient)
    client.rset()
    return code


def test_a_stop_list_entry_added_on_one_node_refuses_the_address_on_the_others(fleet):
    password = add_resource(fleet[0], "acme/stop", "stop.example")
    clients = [login(node, "acme/stop", password) for node in fleet[1:]]
    for client in clients:
        assert rcpt_code(client, "a@stop.example", "listed@example.net") == 250
    fleet[0].ctl("stoplist", "add", "listed@example.net", "--global", "--reason", "complaint")
    added = time.monotonic()
    for index, client in enumerate(clients, start=1):
        wait_until(lambda client=client: rcpt_code(client, "a@stop.example",
                                                    "listed@example.net") == 550,
                   timeout=5, interval=0.01, message=f"node {index} refuses the listed address")
    elapsed = time.monotonic() - added
    assert elapsed < 1.0, elapsed
    # Each node's own copy answers relayctl too, and the list reads the same everywhere.
    for node in fleet:
        checked = node.ctl("stoplist", "check", "listed@example.net", "--resource", "acme/stop")
        assert "listed@example.net" in checked.stdout
    fleet[2].ctl("stoplist", "remove", "listed@example.net", "--global")
    for index, client in enumerate(clients, start=1):
        wait_until(lambda client=client: rcpt_code(client, "a@stop.example",
                                                    "listed@example.net") == 250,
                   timeout=5, interval=0.01, message=f"node {index} takes the removal")
    for client in clients:
        client.quit()


def test_a_token_added_on_one_node_opens_the_api_of_the_others(fleet):
    """The admin tokens are shared: a token made on the first node adds a stop-list entry
    through the third node's API, and the second node refuses the address."""
    password = add_resource(fleet[0], "acme/api", "api.example")
    token = json.loads(fleet[0].ctl("admin-token", "add", "ops", "--json").stdout)["token"]
    client = login(fleet[1], "acme/api", password)
    assert rcpt_code(client, "a@api.example", "api-listed@example.net") == 250
    request = urllib.request.Request(
        f"http://127.0.0.1:{fleet[2].admin_port}/api/v1/stop-list", method="POST",
        data=json.dumps({"address": "api-listed@example.net", "resource": "acme/api"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    added = time.monotonic()
    wait_until(lambda: rcpt_code(client, "a@api.example", "api-listed@example.net") == 550,
               timeout=5, interval=0.01, message="node 1 refuses the address")
    assert time.monotonic() - added < 1.0
    client.quit()


def test_without_redis_the_stop_lists_keep_their_last_copy(fleet, redis):
    password = add_resource(fleet[0], "acme/down", "down.example")
    fleet[0].ctl("stoplist", "add", "kept@example.net", "--global")
    clients = [login(node, "acme/down", password) for node in fleet]
    for index, client in enumerate(clients):
        wait_until(lambda client=client: rcpt_code(client, "a@down.example",
                                                    "kept@example.net") == 550,
                   timeout=5, message=f"node {index} has the entry")
    redis.stop()
    stopped = time.monotonic()
    try:
        # Within the grace the sessions go on (the limiter serves leased units), and the
        # replica refuses the listed address as before.
        for client in clients:
            assert rcpt_code(client, "a@down.example", "kept@example.net") == 550
        time.sleep(max(0.0, stopped + GRACE_MS / 1000 + 0.5 - time.monotonic()))
        # Past the grace, a login is refused for now: the snapshot may be stale.
        for node in fleet:
            assert login_reply(node, "acme/down", password) == (454, "4.7.0 Temporary "
                                                                     "authentication failure")
        refused = fleet[1].ctl("domain", "add", "acme/down", "later.example", check=False)
        assert refused.returncode == 1
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "Redis" in refused.stderr and "unreachable" in refused.stderr
    finally:
        redis.start()
    # Redis is back (with its data): logins and changes work again, without a restart.
    for index, node in enumerate(fleet):
        wait_until(lambda node=node: login_works(node, "acme/down", password), timeout=10,
                   message=f"node {index} takes logins again")
    fleet[1].ctl("domain", "add", "acme/down", "later.example")
    for index, client in enumerate(clients):
        wait_until(lambda client=client: mail_from_code(client, "a@later.example") == 250,
                   timeout=10, message=f"node {index} takes changes again")
        client.quit()

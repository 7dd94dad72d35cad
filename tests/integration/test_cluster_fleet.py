"""A fleet as it is deployed: HAProxy in TCP mode (PROXY protocol v2, SMTP health checks) in
front of three relayd nodes sharing one Redis, every client through the balancer.

* 8 logged-in clients try 300 messages for one resource limited to 100 per window: exactly 100
  are accepted fleet-wide, the rest get `451 4.7.1`, and every node's `/metrics` reports the
  fleet's 100 and 200 (the statistics live in Redis).
* The allowlist sees the client behind the balancer: the clients bind their sockets to
  127.0.0.2 (in `clients`) and 127.0.0.3 (not in it); every node refuses the second with `554`.
* A node killed with `kill -9` while it holds queued mail (the receiving server is down): the
  balancer's health checks take it out and the other two go on accepting; started again on the
  same spool, it delivers its queue. The receiving server (aiosmtpd) counts every message once:
  nothing was in flight when the node died, so at-least-once delivery allows no duplicate.

One redis-server, three nodes and one haproxy serve the whole module; each test uses its own
resource. The tenants are made once, with relayctl on one node: they live in Redis, which every
node reads, so one password logs in on every node."""
import re
import smtplib
import subprocess
import threading
import urllib.request

import pytest

from conftest import Relayd, free_port, relayd_maker
from delivery_support import Receiver, delivery_settings, loopback_port
from haproxy_support import Haproxy
from helpers import wait_until
from redis_support import RedisServer

ALLOWED = "127.0.0.2"
REFUSED = "127.0.0.3"
RECEIVER = "127.0.0.4"
GRACE_MS = 3000
CHECK_INTERVAL_MS = 200
FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
# The balancer is the only peer; it is also a client for its own health checks (a v2 LOCAL
# header names nobody, so relayd greets the balancer's address): only 127.0.0.2 is a real one.
LISTENER = f"""
auth = "required"
auth_plaintext = true
proxy_protocol = true
proxy_from = ["127.0.0.1/32"]
clients = ["{ALLOWED}/32", "127.0.0.1/32"]
"""
# An SMTP check through the PROXY protocol (LOCAL header), and a client that lands on a node
# that died before its check noticed is sent to another one.
BACKEND = """
option smtpchk HELO balancer.test
option redispatch
retries 2
"""


class Fleet:
    def __init__(self, redis, nodes, balancer, receiver_port, passwords):
        self.redis = redis
        self.nodes = nodes
        self.balancer = balancer
        self.receiver_port = receiver_port
        self.passwords = passwords
        self.receiver = None

    def start_receiver(self):
        if self.receiver is None:
            self.receiver = Receiver(RECEIVER, self.receiver_port)
        return self.receiver


def node_settings(redis, index, receiver_port):
    admin = f"""
        [admin]
        listen = "127.0.0.1:{free_port()}"
        metrics_listen = "127.0.0.1:{free_port()}"
        """
    return (FAST_HASHES + redis.cluster_settings(f"n{index}", GRACE_MS) + admin +
            delivery_settings(None, receiver_port, retry="[1]",
                              routes=[("example.net", f"{RECEIVER}:{receiver_port}")]))


def make_tenants(node):
    """acme/limited (limited.example, 100 per 120 s) and acme/bulk (bulk.example, 1,000,000 per
    120 s, the most relayctl allows: its first message must not wait for Redis to build a
    million slots)."""
    node.ctl("project", "add", "acme", "--max-resources", "2")
    passwords = {}
    for name in ("limited", "bulk"):
        added = node.ctl("resource", "add", f"acme/{name}").stdout
        passwords[f"acme/{name}"] = re.search(r"password: (\S+)", added).group(1)
        node.ctl("domain", "add", f"acme/{name}", f"{name}.example")
    node.ctl("resource", "set-limit", "acme/limited", "--messages", "100", "--window", "120")
    node.ctl("resource", "set-limit", "acme/bulk", "--messages", "1000000", "--window", "120")
    return passwords


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    redis = RedisServer(folder / "redis").start()
    maker = relayd_maker(folder, Relayd)
    make = next(maker)
    receiver_port = loopback_port()
    balancer = fleet = None
    try:
        nodes = [make(settings=node_settings(redis, index, receiver_port), listener=LISTENER,
                      start=False, name=f"node{index}") for index in range(3)]
        passwords = make_tenants(nodes[0])
        for node in nodes:
            node.start()
        for node in nodes:
            wait_until(lambda node=node: "relayd started" in node.log() and
                       re.search(r"cluster: Redis \S+ ready", node.log()), timeout=15,
                       message="each node started and reached Redis")
        balancer = Haproxy(folder, [node.port for node in nodes], proxy="v2", check=True,
                           check_interval_ms=CHECK_INTERVAL_MS, backend_options=BACKEND).start()
        for index in range(3):
            wait_until(lambda index=index: re.search(
                rf"server relayd/node{index} succeeded, reason: Layer7 check passed",
                balancer.log()), timeout=15, message=f"the SMTP check passes on node{index}")
        fleet = Fleet(redis, nodes, balancer, receiver_port, passwords)
        yield fleet
    finally:
        if fleet is not None and fleet.receiver is not None:
            fleet.receiver.stop()
        if balancer is not None:
            balancer.stop()
        next(maker, None)  # kills the nodes still running
        redis.stop()


def logged_in(fleet, username, source=ALLOWED):
    client = smtplib.SMTP("127.0.0.1", fleet.balancer.port, timeout=30,
                          source_address=(source, 0))
    client.ehlo("client.test")
    client.login(username, fleet.passwords[username])
    return client


def message(sender, message_id):
    return (f"From: <{sender}>\r\nTo: <b@example.net>\r\nSubject: fleet\r\n"
            f"Message-ID: {message_id}\r\n\r\nhello\r\n").encode()


def send(client, message_id):
    """One transaction of the client's resource: MAIL's reply if it is refused, else DATA's."""
    sender = f"a@{client.user.split('/')[1]}.example"
    code, text = client.mail(sender)
    if code != 250:
        client.rset()
        return code, text.decode()
    assert client.rcpt("b@example.net")[0] == 250
    code, text = client.data(message(sender, message_id))
    return code, text.decode()


def burst(clients, attempts_total):
    """The clients share `attempts_total` transactions, each client on its own thread."""
    attempts = iter(range(attempts_total))
    lock = threading.Lock()
    outcomes = []

    def run(client):
        while True:
            with lock:
                index = next(attempts, None)
            if index is None:
                return
            outcome = send(client, f"<burst-{index}@client.test>")
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def metric_sum(node, family, labels):
    """The value of one series of a node's /metrics (metrics_listen, no token); 0 if absent."""
    address = re.search(r'metrics_listen = "([^"]+)"', node.config_path.read_text()).group(1)
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    pattern = re.compile(rf"^{family}\{{([^}}]*)\}} (\S+)$", re.M)
    total = 0.0
    for label_text, value in pattern.findall(text):
        if all(f'{name}="{wanted}"' in label_text for name, wanted in labels.items()):
            total += float(value)
    return total


def test_the_fleet_behind_the_balancer_accepts_exactly_the_limit(fleet):
    clients = [logged_in(fleet, "acme/limited") for _ in range(8)]
    outcomes = burst(clients, 300)
    for client in clients:
        client.quit()
    accepted = [outcome for outcome in outcomes if outcome[0] == 250]
    refused = [outcome for outcome in outcomes if outcome[0] != 250]
    assert len(outcomes) == 300
    assert len(accepted) == 100, (len(accepted), refused[:5])
    assert all(code == 451 and text.startswith("4.7.1 rate limit of 100 messages per 120 s")
               for code, text in refused), refused[:5]
    # The balancer spread the clients: every node accepted part of the 100 (its log says so).
    def accepted_per_node():
        return [len(re.findall(rf": client={ALLOWED} from=<a@limited\.example> ", node.log()))
                for node in fleet.nodes]
    wait_until(lambda: sum(accepted_per_node()) >= 100, message="100 acceptances logged")
    queued = accepted_per_node()
    assert sum(queued) == 100 and min(queued) > 0, queued

    # What Prometheus scrapes: the statistics are the fleet's, kept in Redis, so every node's
    # /metrics reports the 100 accepted and the 200 refused, not its own share.
    def scraped():
        counts = [(metric_sum(node, "relay_accepted_messages_total", {"resource": "acme/limited"}),
                   metric_sum(node, "relay_refused_total",
                              {"resource": "acme/limited", "reason": "rate_limit"}))
                  for node in fleet.nodes]
        return counts if counts == [(100.0, 200.0)] * 3 else None
    wait_until(scraped, timeout=10, interval=0.5, message="every node's /metrics has the fleet's")


def test_every_node_sees_the_client_behind_the_balancer(fleet):
    # Round robin: six connections in a row from the refused address reach each node twice.
    for _ in range(6):
        with pytest.raises(smtplib.SMTPConnectError) as refusal:
            smtplib.SMTP("127.0.0.1", fleet.balancer.port, timeout=10,
                         source_address=(REFUSED, 0))
        assert refusal.value.smtp_code == 554
        assert refusal.value.smtp_error.decode().startswith("5.7.1 "), refusal.value
    for node in fleet.nodes:
        wait_until(lambda node=node: f"client={REFUSED} refused: not in listener test's client "
                   "networks" in node.log(), message="the refusal logged by every node")
        assert "client=127.0.0.1 refused" not in node.log()
    client = logged_in(fleet, "acme/bulk")
    code, text = send(client, "<allowed@client.test>")
    client.quit()
    assert code == 250, text
    queue_id = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    entries = [node.ctl("queue", "show", queue_id, "--json", check=False) for node in fleet.nodes]
    shown = [entry.stdout for entry in entries if entry.returncode == 0]
    assert len(shown) == 1 and f'"client_ip": "{ALLOWED}"' in shown[0], shown
    # That was acme/bulk's first message: Redis holds the slots leased so far, not a million.
    stored = subprocess.run(["redis-cli", "-p", str(fleet.redis.port), "-a", fleet.redis.password,
                             "--no-auth-warning", "ZCARD", "relay:rate:{acme/bulk}:slots"],
                            capture_output=True, text=True, check=True).stdout
    assert 1 <= int(stored) <= 3 * 256, stored  # at most lease_units_max per node


def send_one_per_connection(fleet, prefix, count):
    """`count` messages of acme/bulk through the balancer, a new connection for each (so round
    robin spreads them over the nodes that are up). Asserts a 250 for every one; returns
    {Message-ID: queue id}.

    A connection closed before the greeting is tried again once, as a sending MTA would: the
    balancer may hand a connection to a node in the moment it dies (the kernel finishes its
    listening socket a few milliseconds after the process)."""
    queued = {}
    for index in range(count):
        message_id = f"<{prefix}-{index}@client.test>"
        try:
            client = logged_in(fleet, "acme/bulk")
        except smtplib.SMTPServerDisconnected:
            client = logged_in(fleet, "acme/bulk")
        code, text = send(client, message_id)
        client.quit()
        assert code == 250, (message_id, code, text)
        queued[message_id] = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    return queued


def queued_message_ids(node):
    ids = set()
    for queue_id, entry in node.queue().items():
        if entry["resource"] == "acme/bulk":
            data = node.message_data(queue_id)
            ids.add(re.search(rb"^Message-ID: (\S+)", data, re.M).group(1).decode())
    return ids


def test_a_node_killed_with_its_queue_delivers_it_after_its_restart(fleet):
    victim = fleet.nodes[1]
    before = send_one_per_connection(fleet, "before-kill", 12)
    held = queued_message_ids(victim) & set(before)
    assert held, "the node holds none of the messages"  # the receiver is down
    victim.kill()

    # The two others go on through the balancer, which takes the dead node out.
    during = send_one_per_connection(fleet, "while-down", 12)
    wait_until(lambda: "Server relayd/node1 is DOWN" in fleet.balancer.log(),
               message="the health check takes the dead node out")
    survivors = [fleet.nodes[0], fleet.nodes[2]]
    assert set(during) <= set().union(*(queued_message_ids(node) for node in survivors))

    # The receiver comes up: the live nodes deliver theirs; the dead node's stay on its disk.
    receiver = fleet.start_receiver()
    expected = (set(before) | set(during)) - held
    wait_until(lambda: expected <= set(receiver.message_ids()), timeout=30,
               message="the live nodes' queues delivered")
    assert not held & set(receiver.message_ids())

    # Started again on the same spool: its queue is delivered, and it is back in rotation.
    log_before_restart = len(victim.log())
    victim.start()
    wait_until(lambda: held <= set(receiver.message_ids()), timeout=30,
               message="the restarted node delivers the queue it held")
    wait_until(lambda: "Server relayd/node1 is UP" in fleet.balancer.log(),
               message="the balancer takes the node back")
    after = send_one_per_connection(fleet, "after-restart", 6)
    wait_until(lambda: any(f"{queue_id}: client={ALLOWED} " in victim.log()[log_before_restart:]
                           for queue_id in after.values()),
               message="mail through the balancer reaches the restarted node")
    wait_until(lambda: set(after) <= set(receiver.message_ids()), timeout=30,
               message="mail accepted after the restart delivered")

    # None lost, none twice: nothing was in flight to the receiver when the node died.
    sent = set(before) | set(during) | set(after)
    delivered = [message_id for message_id in receiver.message_ids() if message_id in sent]
    assert sorted(delivered) == sorted(sent)
    for node in fleet.nodes:
        wait_until(lambda node=node: not node.queue(), timeout=30, message="every queue empty")

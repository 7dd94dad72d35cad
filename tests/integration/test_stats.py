"""Statistics through the real relayd: logged-in clients send to an aiosmtpd receiver, some
mail is delivered, some bounced (550), some deferred (451), some refused (a stop-listed
recipient, the rate limit, bad UTF-8, the size, a sender domain of another tenant, a wrong
password), and `relayctl stats --json` shows each count under the resource, its sender domain
or "no resource" once the flusher has written them. A clean stop (SIGTERM) and a start keep
every count, even one made just before the signal, inside the flush interval; a kill -9 keeps
every count already flushed."""
import base64
import json
import re
import smtplib

import pytest

from delivery_support import delivery_settings, network_fixture, wait_ready
from helpers import wait_until

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[limits]
message_bytes_max = 20000
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'
ZERO = {name: 0 for name in (
    "accepted", "refused_auth", "refused_allowlist", "refused_rate_limit", "refused_stop_list",
    "refused_utf8", "refused_size", "refused_sender", "delivered", "deferred", "bounced_hard",
    "bounced_soft", "complaints", "stop_listed", "reports_unparsed")}
ZERO["bounce_reasons"] = {}


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def start(net):
    receiver = net.receiver("127.0.0.2", rcpt_script={
        "gone@example.net": ["550 5.1.1 no such user"],
        "later@example.net": ["451 4.3.0 try again later"]})
    route = f"127.0.0.2:{net.port}"
    settings = delivery_settings(None, net.port, retry="[3600]",
                                 routes=[("example.net", route), ("acme.example", route)])
    relayd = net.factory(settings=settings + FAST_HASHES, listener=AUTH_LISTENER, start=False)
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.ctl("resource", "set-limit", "acme/main", "--messages", "3", "--window", "600")
    relayd.ctl("stoplist", "add", "stopped@example.net", "--resource", "acme/main")
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver


def logged_in(relayd):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo("client.test")
    client.login("acme/main", relayd.password)
    return client


def message(to, body=b"Hi.\r\n"):
    return (f"From: <ann@acme.example>\r\nTo: <{to}>\r\nSubject: s\r\n\r\n").encode() + body


def stats(relayd, *arguments):
    return json.loads(relayd.ctl("stats", *arguments, "--json").stdout)


def counts(relayd, *arguments):
    [column] = stats(relayd, *arguments)["columns"]
    return column["counts"]


def wait_counts(relayd, expected, *arguments):
    """Waits for the flusher (every 2 s) to have written what the test expects."""
    wait_until(lambda: counts(relayd, *arguments) == expected, timeout=10,
               message=f"stats {arguments}: {expected}")


def test_counts_per_resource_domain_and_no_resource_survive_a_clean_restart(net):
    relayd, receiver = start(net)
    client = logged_in(relayd)
    # Refused after the data: an octet that is not UTF-8 (its rate unit is given back).
    assert client.mail("ann@acme.example")[0] == 250
    assert client.rcpt("ok@example.net")[0] == 250
    assert client.data(message("ok@example.net", b"caf\xe9\r\n"))[0] == 554
    # Too large: declared at MAIL (no sender domain counted), and found after the data.
    assert client.docmd("MAIL", "FROM:<ann@acme.example> SIZE=50000")[0] == 552
    assert client.mail("ann@acme.example")[0] == 250
    assert client.rcpt("ok@example.net")[0] == 250
    assert client.data(message("ok@example.net", (b"x" * 70 + b"\r\n") * 400))[0] == 552
    # A sender domain of no resource of this login.
    assert client.mail("ann@other.example")[0] == 553
    client.rset()
    # Three messages: delivered, bounced (550), deferred (451); a stop-listed recipient is
    # refused at RCPT in the first.
    for to in ("ok@example.net", "gone@example.net", "later@example.net"):
        assert client.mail("ann@acme.example")[0] == 250
        if to == "ok@example.net":
            assert client.rcpt("stopped@example.net")[0] == 550
        assert client.rcpt(to)[0] == 250
        code, text = client.data(message(to))
        assert code == 250, text
    # The fourth is over the limit of three.
    assert client.mail("ann@acme.example")[0] == 451
    client.quit()
    # A wrong password: before any login, so under "no resource".
    wrong = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    wrong.ehlo("client.test")
    # One AUTH command (smtplib's login() would try a second mechanism after the first 535).
    plain = base64.b64encode(b"\0acme/main\0not-the-password").decode()
    assert wrong.docmd("AUTH", "PLAIN " + plain)[0] == 535
    wrong.quit()
    receiver.wait_for(1)

    resource = dict(ZERO, accepted=3, delivered=1, bounced_hard=1, deferred=1,
                    refused_stop_list=1, refused_utf8=1, refused_rate_limit=1, refused_sender=1,
                    refused_size=2, bounce_reasons={"no_such_user": 1})
    wait_counts(relayd, resource, "--resource", "acme/main")
    # The domain's column: the same, but for the refused sender (its domain was not the
    # resource's) and the SIZE refused at MAIL (its domain was not checked yet).
    domain = dict(resource, refused_sender=0, refused_size=1)
    assert counts(relayd, "--domain", "ACME.example") == domain
    assert counts(relayd, "--resource", "acme/main", "--since", "1h") == resource
    expected = {"": dict(ZERO, refused_auth=1), "acme/main": resource}
    wait_until(lambda: {column["resource"]: column["counts"]
                        for column in stats(relayd)["columns"]} == expected, timeout=10,
               message=f"stats per resource: {expected}")
    everything = stats(relayd)
    assert everything["total"] == dict(resource, refused_auth=1)
    # The 550 5.1.1 under its reason, in JSON and as a row of its own in the table.
    assert everything["total"]["bounce_reasons"] == {"no_such_user": 1}
    table = relayd.ctl("stats").stdout.splitlines()
    assert table[1].split() == ["counter", "(no", "resource)", "acme/main", "total"]
    assert table[2].split() == ["accepted", "0", "3", "3"]
    assert ["no_such_user", "0", "1", "1"] in [line.split() for line in table]

    # One more count just before SIGTERM, within the 2 s flush interval: the stop flushes it.
    client = logged_in(relayd)
    assert client.mail("ann@other.example")[0] == 553
    client.close()
    assert relayd.stop() == 0
    resource["refused_sender"] += 1
    after_stop = counts(relayd, "--resource", "acme/main")
    assert after_stop == resource
    relayd.start()
    wait_ready(relayd)
    assert counts(relayd, "--resource", "acme/main") == resource
    assert counts(relayd, "--domain", "acme.example") == domain


def test_stats_arguments_are_checked(net):
    relayd, _ = start(net)
    for arguments, status, text in [
            (("--since", "1y"), 2, "--since: \"1y\" is not a period"),
            (("--since", "91d"), 2, "--since: \"91d\" is not a period"),
            (("--resource", "nope"), 1, ""),
            (("--domain", "not a domain"), 1, "")]:
        result = relayd.ctl("stats", *arguments, check=False)
        assert result.returncode == status, (arguments, result.stderr)
        assert result.stderr.startswith("relayctl: " + text), result.stderr
    # Nothing counted yet: zeros, not an error.
    assert counts(relayd, "--resource", "acme/main", "--since", "30d") == ZERO


def test_a_crash_keeps_every_flushed_count(net):
    relayd, receiver = start(net)
    client = logged_in(relayd)
    assert client.mail("ann@acme.example")[0] == 250
    assert client.rcpt("ok@example.net")[0] == 250
    assert client.data(message("ok@example.net"))[0] == 250
    client.quit()
    receiver.wait_for(1)
    flushed = dict(ZERO, accepted=1, delivered=1)
    wait_counts(relayd, flushed, "--resource", "acme/main")
    relayd.kill()  # no last flush: only what the flusher wrote before survives
    relayd.start()
    wait_ready(relayd)
    assert counts(relayd, "--resource", "acme/main") == flushed
    assert counts(relayd, "--domain", "acme.example") == flushed

"""The per-resource message rate limit, with real clients against relayd: 8 parallel logged-in
connections try 200 messages for one resource and exactly its limit of 100 get 250, the rest
`451 4.7.1 rate limit of 100 messages per W s reached; try again in N s` with an N that is
right; after the window sending works again; another resource is unaffected; a transaction that
ends without a message (RSET, QUIT, a refused message) gives its unit back; a limit changed with
relayctl applies to the running relayd. And relayctl resource set-limit itself."""
import json
import re
import smtplib
import subprocess
import threading
import time

import pytest

from conftest import RELAYCTL, RELAYD
from helpers import relayd_factory, wait_until  # noqa: F401 (fixture: delivery held)

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'
LIMITED = re.compile(r"^rate limit of (\d+) messages per (\d+) s reached; try again in (\d+) s$")


def ctl(relayd, *arguments, status=0):
    result = subprocess.run([str(RELAYCTL), "--config", str(relayd.config_path), *arguments],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == status, f"relayctl {' '.join(arguments)}: {result.stderr}"
    return result


@pytest.fixture
def tenants(relayd_factory):  # noqa: F811
    """relayd requiring AUTH, with acme/main (acme.example) and other/main (other.example)."""
    relayd = relayd_factory(settings=FAST_HASHES, listener=AUTH_LISTENER, start=False)
    relayd.passwords = {}
    for project in ("acme", "other"):
        ctl(relayd, "project", "add", project)
        added = ctl(relayd, "resource", "add", f"{project}/main").stdout
        relayd.passwords[project] = re.search(r"password: (\S+)", added).group(1)
        ctl(relayd, "domain", "add", f"{project}/main", f"{project}.example")
    return relayd


def logged_in(relayd, project="acme"):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=30)
    client.ehlo()
    client.login(f"{project}/main", relayd.passwords[project])
    return client


def message(project):
    return (f"From: <a@{project}.example>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\n"
            "hello\r\n").encode()


def send(client, project="acme"):
    """One transaction: MAIL's reply if it is refused, else DATA's."""
    code, text = client.mail(f"a@{project}.example")
    if code != 250:
        client.rset()
        return code, text.decode()
    assert client.rcpt("b@example.net")[0] == 250
    code, text = client.data(message(project))
    return code, text.decode()


def wait_of(text):
    match = LIMITED.match(text)
    assert match, text
    return int(match.group(3))


def test_eight_connections_get_exactly_the_limit_then_the_window_frees_it(tenants):
    window_s = 10
    ctl(tenants, "resource", "set-limit", "acme/main", "--messages", "100", "--window",
        str(window_s))
    tenants.start()
    clients = [logged_in(tenants) for _ in range(8)]
    attempts = iter(range(200))
    lock = threading.Lock()
    outcomes = []

    def run(client):
        while True:
            with lock:
                if next(attempts, None) is None:
                    return
            started = time.monotonic()
            outcome = send(client)
            with lock:
                outcomes.append((started, time.monotonic(), outcome))

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - began
    assert took < window_s - 1, f"the burst took {took:.1f} s, longer than the test's window"

    accepted = [o for o in outcomes if o[2][0] == 250]
    refused = [o for o in outcomes if o[2][0] != 250]
    assert len(outcomes) == 200
    assert len(accepted) == 100, [o[2] for o in refused][:5]
    assert all(code == 451 for _, _, (code, _) in refused), refused[:5]
    for started, _, (_, text) in refused:
        assert text.startswith("4.7.1 "), text
        wait_s = wait_of(text[len("4.7.1 "):])
        # The earliest unit frees `window_s` after it was taken, at or after `began`.
        assert 1 <= wait_s <= window_s
        assert started + wait_s >= began + window_s - 1, (wait_s, started - began)
    wait_until(lambda: tenants.log().count("rate limit of 100 messages per 10 s reached") == 100,
               message="a log line per refusal")

    # Another resource has its own budget.
    with logged_in(tenants, "other") as other:
        assert send(other, "other")[0] == 250

    # After the wait the last refusal named, the resource sends again.
    last_started, _, (_, last_text) = refused[-1]
    time.sleep(max(0.0, last_started + wait_of(last_text[len("4.7.1 "):]) - time.monotonic())
               + 0.3)
    code, text = send(clients[0])
    assert code == 250, text
    for client in clients:
        client.quit()


def test_a_transaction_without_a_message_gives_its_unit_back(tenants):
    ctl(tenants, "resource", "set-limit", "acme/main", "--messages", "2", "--window", "300")
    tenants.start()
    client = logged_in(tenants)
    for _ in range(5):  # RSET after MAIL, again and again: no unit is used up
        assert client.mail("a@acme.example")[0] == 250
        assert client.rset()[0] == 250
    # A connection that quits in the middle of a transaction.
    quitter = logged_in(tenants)
    assert quitter.mail("a@acme.example")[0] == 250
    quitter.quit()
    # A message refused after its data (a From address of another tenant).
    assert client.mail("a@acme.example")[0] == 250
    assert client.rcpt("b@example.net")[0] == 250
    code, _ = client.data(b"From: <x@other.example>\r\nSubject: t\r\n\r\nhi\r\n")
    assert code == 550
    # Both units are still there.
    assert send(client)[0] == 250
    assert send(client)[0] == 250
    code, text = client.mail("a@acme.example")
    assert code == 451, text
    assert LIMITED.match(text.decode()[len("4.7.1 "):]), text
    assert wait_of(text.decode()[len("4.7.1 "):]) > 290
    client.quit()


def test_a_limit_changed_with_relayctl_applies_to_the_running_relayd(tenants):
    tenants.start()
    with logged_in(tenants, "other") as client:
        assert send(client, "other")[0] == 250
        assert send(client, "other")[0] == 250
        generations = tenants.log().count("tenants: generation")
        ctl(tenants, "resource", "set-limit", "other/main", "--messages", "3", "--window", "600")
        wait_until(lambda: tenants.log().count("tenants: generation") > generations, timeout=5,
                   message="the new snapshot")
        # The two messages sent under the old limit count: one more fits.
        assert send(client, "other")[0] == 250
        code, text = client.mail("a@other.example")
        assert code == 451 and text.decode().startswith(
            "4.7.1 rate limit of 3 messages per 600 s reached; try again in "), text


def test_set_limit_in_text_and_json_and_its_errors(tenants):
    assert ctl(tenants, "resource", "set-limit", "acme/main", "--messages", "20", "--window",
               "60").stdout == "resource acme/main: at most 20 messages per 60 s\n"
    listing = ctl(tenants, "resource", "list").stdout.splitlines()
    assert listing[0].split()[-3:] == ["RATE", "LIMIT", "DOMAINS"]
    assert listing[1].split() == ["acme/main", "20/60s", "acme.example"]
    assert listing[2].split() == ["other/main", "100/300s", "other.example"]
    assert json.loads(ctl(tenants, "resource", "set-limit", "other/main", "--messages",
                          "1000000", "--window", "86400", "--json").stdout) == {
        "username": "other/main", "rate_messages": 1000000, "rate_window_s": 86400}
    resources = json.loads(ctl(tenants, "resource", "list", "--json").stdout)
    assert [(r["username"], r["rate_messages"], r["rate_window_s"]) for r in resources] == [
        ("acme/main", 20, 60), ("other/main", 1000000, 86400)]

    for messages, window, text in [
            ("0", "60", "resource set-limit: messages must be 1 to 1000000, not 0"),
            ("1000001", "60", "resource set-limit: messages must be 1 to 1000000, not 1000001"),
            ("10", "0", "resource set-limit: window must be 1 to 86400 seconds, not 0"),
            ("10", "86401", "resource set-limit: window must be 1 to 86400 seconds, not 86401"),
            ("99999999999", "60", "resource set-limit: messages must be 1 to 1000000, not "
                                  "99999999999")]:
        result = ctl(tenants, "resource", "set-limit", "acme/main", "--messages", messages,
                     "--window", window, status=1)
        assert result.stderr == f"relayctl: {text}\n" and result.stdout == ""
    result = ctl(tenants, "resource", "set-limit", "acme/nope", "--messages", "5", "--window",
                 "5", status=1)
    assert "acme/nope" in result.stderr and len(result.stderr.splitlines()) == 1
    ctl(tenants, "resource", "set-limit", "acme/main", "--messages", "5", status=2)
    assert json.loads(ctl(tenants, "resource", "list", "--json").stdout)[0][
        "rate_messages"] == 20


def test_connections_per_client_per_minute(relayd_factory):  # noqa: F811
    relayd = relayd_factory(settings="[limits]\nconnections_per_client_per_minute = 5\n")
    # From 127.0.0.2: the start-up check that relayd listens connected from 127.0.0.1.
    source = ("127.0.0.2", 0)
    for _ in range(5):
        smtplib.SMTP("127.0.0.1", relayd.port, timeout=10, source_address=source).quit()
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", relayd.port, timeout=10, source_address=source)
    assert refused.value.smtp_code == 421
    assert refused.value.smtp_error.decode() == (
        "4.7.0 relay.test Error: too many connections from your address in the last minute")
    # Another address has its own count.
    other = smtplib.SMTP("127.0.0.1", relayd.port, timeout=10)
    assert other.noop()[0] == 250
    other.quit()
    wait_until(lambda: "refusing 127.0.0.2: more than 5 connections from this address in a "
               "minute" in relayd.log(), message="the refusal in the log")


def test_connections_per_resource_max(tenants):
    tenants.write_config(FAST_HASHES + "[limits]\nconnections_per_resource_max = 2\n", 2)
    tenants.start()
    first, second = logged_in(tenants), logged_in(tenants)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        logged_in(tenants)
    assert refused.value.smtp_code == 454
    assert refused.value.smtp_error.decode() == (
        "4.7.0 Error: too many connections logged in as this account; try again later")
    with logged_in(tenants, "other") as other:  # another resource is not counted with acme
        assert send(other, "other")[0] == 250
    assert send(first)[0] == 250
    second.quit()

    def third_logs_in():
        try:
            logged_in(tenants).quit()
            return True
        except smtplib.SMTPAuthenticationError:
            return False

    wait_until(third_logs_in, timeout=5, message="a login after one connection ended")
    first.quit()


@pytest.mark.parametrize("key, value, bounds", [
    ("connections_per_client_per_minute", "1001", "between 0 and 1000"),
    ("connections_per_resource_max", "-1", "between 0 and 1000000"),
])
def test_the_connection_limits_are_checked_at_load(relayd_factory, key, value, bounds):  # noqa: F811
    relayd = relayd_factory(settings=f"[limits]\n{key} = {value}\n", start=False)
    result = subprocess.run([str(RELAYD), "--config", str(relayd.config_path), "--check-config"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert f"limits.{key}" in result.stderr and bounds in result.stderr, result.stderr

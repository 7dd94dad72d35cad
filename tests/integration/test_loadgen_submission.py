"""test_loadgen_submission.py -- tools/loadgen's submission options against relayd.

Each connection does what a customer's server does on the submission port: EHLO, STARTTLS
(RFC 3207), EHLO again, AUTH PLAIN with an initial response (RFC 4954, RFC 4616), one message,
QUIT. relayd requires the login and offers AUTH only after TLS, so a message counted as accepted
went through both; a wrong password and a missing --starttls show up in loadgen's counts and
exit status.

Run by hand: RELAY_BUILD_DIR=build /usr/bin/python3 -m pytest tests/integration/test_loadgen_submission.py
"""
import json
import re
import subprocess

import pytest

from test_auth import AUTH_SETTINGS, ctl, password_of
from delivery_support import make_certificate
from helpers import wait_until
from test_loadgen import loadgen_binary


@pytest.fixture
def submission(relayd_factory, tmp_path):
    """relayd requiring AUTH on a STARTTLS listener, with one tenant acme/main (acme.example)."""
    (tmp_path / "tls").mkdir()
    cert, key = make_certificate(tmp_path / "tls", "relay.test")
    relayd = relayd_factory(
        settings=AUTH_SETTINGS + f'\n[tls]\ncertificate_chain_file = "{cert}"\n'
        f'private_key_file = "{key}"\n',
        listener='auth = "required"\ntls = "starttls"\n', start=False)
    ctl(relayd, "project", "add", "acme")
    relayd.password = password_of(ctl(relayd, "resource", "add", "acme/main"))
    ctl(relayd, "domain", "add", "acme/main", "acme.example")
    # More messages than the default rate limit of 100 per 300 s.
    ctl(relayd, "resource", "set-limit", "acme/main", "--messages", "1000000", "--window", "1")
    relayd.certificate = cert
    return relayd.start()


def loadgen(relayd, *arguments, password=None):
    command = [loadgen_binary(), "--server", f"127.0.0.1:{relayd.port}", "--json", "--quiet",
               "--from", "a@acme.example", "--to", "b@example.net",
               "--auth-user", "acme/main", "--auth-password", password or relayd.password,
               "--give-up-ms", "2000", "--timeout-ms", "10000", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_each_connection_does_starttls_auth_one_message_and_quit(submission):
    status, summary, stderr = loadgen(submission, "--starttls", "--sessions", "8",
                                      "--messages", "200", "--messages-per-connection", "1")
    assert status == 0, (summary, stderr)
    assert summary["messages"]["accepted"] == 200
    connections = summary["connections"]
    assert connections["opened"] == 200 and connections["completed"] == 200
    assert connections["tls_failures"] == 0 and connections["auth_refused"] == 0
    assert summary["connections_per_s"] > 0
    assert summary["session_latency"]["samples"] == 200
    # relayd logged one login per connection (its log is written behind the replies).
    wait_until(lambda: len(re.findall(r"login acme/main", submission.log())) == 200,
               message="200 logins in relayd's log")


def test_the_certificate_is_checked_when_asked(submission, tmp_path):
    status, summary, _ = loadgen(submission, "--starttls", "--tls-ca-file",
                                 str(submission.certificate), "--tls-name", "relay.test",
                                 "--messages", "5", "--messages-per-connection", "1",
                                 "--sessions", "1")
    assert status == 0 and summary["messages"]["accepted"] == 5
    # The right CA but another name: refused.
    status, summary, _ = loadgen(submission, "--starttls", "--tls-ca-file",
                                 str(submission.certificate), "--tls-name", "other.test",
                                 "--messages", "3", "--sessions", "1")
    assert status == 1 and summary["connections"]["tls_failures"] > 0
    # The system store does not know the self-signed certificate: every handshake fails.
    status, summary, _ = loadgen(submission, "--starttls", "--tls-verify", "--messages", "3",
                                 "--sessions", "1")
    assert status == 1
    assert summary["messages"]["accepted"] == 0 and summary["connections"]["tls_failures"] > 0


def test_a_wrong_password_or_no_tls_gets_no_message_through(submission):
    status, summary, _ = loadgen(submission, "--starttls", "--messages", "3", "--sessions", "1",
                                 password="not the password")
    assert status == 1
    assert summary["messages"]["accepted"] == 0 and summary["connections"]["auth_refused"] > 0
    # Without STARTTLS relayd answers AUTH with 538 (encryption required first).
    status, summary, _ = loadgen(submission, "--messages", "3", "--sessions", "1")
    assert status == 1
    assert summary["messages"]["accepted"] == 0 and summary["connections"]["auth_refused"] > 0

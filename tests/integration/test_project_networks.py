"""A project's client networks: relayctl project set-networks stores them (checked as the config
loader checks a listener's clients, with the same texts), project list shows them, and relayd
refuses a login of the project's resources from any other address with the 535 of a wrong
password, logging why, until they are cleared. The second client address is 127.0.0.2 (smtplib
binds there), inside the listener's 127.0.0.0/8 but outside the project's 127.0.0.1/32."""
import json
import re
import smtplib
import subprocess

import pytest

from conftest import RELAYCTL
from helpers import wait_until

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\nclients = ["127.0.0.0/8"]\n'
REFUSED_TEXT = "5.7.8 Authentication credentials invalid"


def run(config, *arguments):
    return subprocess.run([str(RELAYCTL), "--config", str(config), *arguments],
                          capture_output=True, text=True, timeout=60)


def ok(config, *arguments):
    result = run(config, *arguments)
    assert result.returncode == 0, f"relayctl {' '.join(arguments)}: {result.stderr}"
    return result.stdout


def error(config, *arguments, status=1):
    result = run(config, *arguments)
    assert result.returncode == status, (arguments, result.returncode, result.stdout)
    assert result.stdout == ""
    return result.stderr.strip()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "relayd.toml"
    path.write_text('[[listener]]\nname = "t"\naddress = "127.0.0.1:1"\n' + FAST_HASHES)
    ok(path, "project", "add", "acme")
    return path


def test_set_networks_list_and_clear_in_text_and_json(config):
    assert ok(config, "project", "set-networks", "acme", "192.0.2.0/24", "2001:DB8::/32",
              "198.51.100.7") == (
        "project acme: logins only from 192.0.2.0/24, 2001:db8::/32, 198.51.100.7/32\n")
    listing = ok(config, "project", "list").splitlines()
    assert listing[0].split()[-1] == "NETWORKS"
    assert listing[1].startswith("acme ")
    assert listing[1].endswith("192.0.2.0/24, 2001:db8::/32, 198.51.100.7/32")
    projects = json.loads(ok(config, "project", "list", "--json"))
    assert projects[0]["networks"] == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]

    changed = json.loads(ok(config, "project", "set-networks", "acme", "10.0.0.0/8", "--json"))
    assert changed == {"name": "acme", "resources": 0, "resources_max": 1, "domains_max": 3,
                       "networks": ["10.0.0.0/8"]}

    assert ok(config, "project", "set-networks", "acme") == (
        "project acme: logins from any of the listeners' client networks\n")
    assert ok(config, "project", "list").splitlines()[1].endswith(" any")
    assert json.loads(ok(config, "project", "list", "--json"))[0]["networks"] == []


@pytest.mark.parametrize("network, text", [
    ("10.0.0.1/8", 'has bits set after the prefix length (got "10.0.0.1/8"; did you mean '
                   '10.0.0.0/8?)'),
    ("mail.example", 'must be a network "ADDRESS/BITS" (got "mail.example")'),
    ("10.0.0.0/33", 'the prefix length must be a number from 0 to 32 (got "10.0.0.0/33")'),
])
def test_a_bad_network_is_refused_with_the_config_loaders_text(config, network, text):
    ok(config, "project", "set-networks", "acme", "10.0.0.0/8")
    assert error(config, "project", "set-networks", "acme", "192.0.2.0/24", network) == (
        f"relayctl: project acme networks: {text}")
    # Nothing of the refused list was kept.
    assert json.loads(ok(config, "project", "list", "--json"))[0]["networks"] == ["10.0.0.0/8"]


def test_errors_and_usage(config):
    assert error(config, "project", "set-networks", "nope", "10.0.0.0/8") == (
        "relayctl: no project nope")
    assert "name is required" in error(config, "project", "set-networks", status=2)


def login_reply(port, password, source):
    """The reply to one AUTH PLAIN as acme/main from `source` (smtplib's login() would try LOGIN
    after a refused PLAIN), then the session is closed."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source, 0))
    try:
        client.ehlo()
        client.user, client.password = "acme/main", password
        try:
            client.auth("PLAIN", client.auth_plain)
            return 235, ""
        except smtplib.SMTPAuthenticationError as refused:
            return refused.smtp_code, refused.smtp_error.decode()
    finally:
        client.close()


@pytest.fixture
def narrowed(relayd_factory):
    """relayd requiring AUTH, admitting all of 127.0.0.0/8, with acme/main narrowed to
    127.0.0.1/32."""
    relayd = relayd_factory(settings=FAST_HASHES, listener=AUTH_LISTENER, start=False)
    ok(relayd.config_path, "project", "add", "acme")
    added = ok(relayd.config_path, "resource", "add", "acme/main")
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    ok(relayd.config_path, "domain", "add", "acme/main", "acme.example")
    ok(relayd.config_path, "project", "set-networks", "acme", "127.0.0.1/32")
    return relayd.start()


REFUSAL_LOG = ("warning: client=127.0.0.2: login acme/main refused: client address outside "
               "project acme's networks")


def test_a_login_from_outside_the_projects_networks_gets_535_until_they_are_cleared(narrowed):
    assert login_reply(narrowed.port, narrowed.password, "127.0.0.1") == (235, "")
    # The right password from outside gets the very reply of a wrong one.
    right = login_reply(narrowed.port, narrowed.password, "127.0.0.2")
    wrong = login_reply(narrowed.port, "not-the-password", "127.0.0.1")
    assert right == wrong == (535, REFUSED_TEXT)
    # Each refusal is logged by the worker that served it, after its reply: wait for both.
    wait_until(lambda: REFUSAL_LOG in narrowed.log(), message="the refusal in the log")
    wait_until(lambda: "login acme/main refused: wrong username or password" in narrowed.log(),
               message="the wrong password in the log")

    ok(narrowed.config_path, "project", "set-networks", "acme")
    wait_until(lambda: login_reply(narrowed.port, narrowed.password, "127.0.0.2")[0] == 235,
               timeout=5, message="127.0.0.2 logs in once the networks are cleared")
    assert "client=127.0.0.2: login acme/main" in narrowed.log()


def test_refusals_from_outside_neither_count_as_failures_nor_spend_a_hash(narrowed):
    # Far more tries than the throttle lets through before a delay or a lockout (defaults 3 and
    # 10 failures): none of them is held back, and the project's own server still logs in.
    for _ in range(15):
        assert login_reply(narrowed.port, "guess", "127.0.0.2") == (535, REFUSED_TEXT)
    assert login_reply(narrowed.port, narrowed.password, "127.0.0.1") == (235, "")
    wait_until(lambda: narrowed.log().count(REFUSAL_LOG) == 15 and
               "client=127.0.0.1: login acme/main" in narrowed.log(),
               message="15 refusals and the login in the log ")
    log = narrowed.log()
    assert "locked out" not in log
    assert "wrong username or password" not in log

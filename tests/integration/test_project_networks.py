"""A project's client networks: relayctl project set-networks stores them (checked as the config
loader checks a listener's clients, with the same texts) and project list shows them."""
import json
import subprocess

import pytest

from conftest import RELAYCTL

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""


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

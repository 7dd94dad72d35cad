"""Tenants through the real relayctl: projects, resources, domains, quotas and their errors,
--json, exit codes; the store surviving kill -9 in the middle of writes; relayd taking a change
within a second; the demo tenant of tools/run."""
import random
import os
import signal
import subprocess
import time

import pytest

from conftest import RELAYCTL, REPO
from helpers import Ctl

# Cheap hashes: these tests are about the commands, not Argon2id's cost.
FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""


@pytest.fixture
def ctl(tmp_path):
    return Ctl(tmp_path, '[[listener]]\nname = "t"\naddress = "127.0.0.1:1"\n' + FAST_HASHES)


def test_each_command_in_text_and_json(ctl):
    assert "project acme added: up to 1 resource, 3 domains per resource" in ctl.ok(
        "project", "add", "acme")
    assert ctl.json("project", "add", "beta", "--max-resources", "2", "--max-domains", "5") == {
        "name": "beta", "resources": 0, "resources_max": 2, "domains_max": 5, "networks": []}

    added = ctl.ok("resource", "add", "acme/web")
    assert "username: acme/web" in added
    password = [line.split(": ", 1)[1] for line in added.splitlines()
                if line.startswith("password: ")][0]
    assert len(password) == 32
    created = ctl.json("resource", "add", "beta/api")
    assert created["username"] == "beta/api" and len(created["password"]) == 32
    assert created["password"] != password

    assert ctl.ok("domain", "add", "acme/web", "Example.COM") == \
        "domain example.com added to acme/web\n"
    assert ctl.json("domain", "add", "acme/web", "example.org") == {
        "added": "example.org", "resource": "acme/web"}
    assert ctl.ok("domain", "list", "acme/web") == "example.com\nexample.org\n"
    assert ctl.json("domain", "list", "acme/web") == [
        {"domain": "example.com", "resource": "acme/web"},
        {"domain": "example.org", "resource": "acme/web"}]

    assert ctl.json("resource", "list") == [
        {"username": "acme/web", "project": "acme", "name": "web",
         "domains": ["example.com", "example.org"], "stop_policy": "exclude",
         "rate_messages": 100, "rate_window_s": 300},
        {"username": "beta/api", "project": "beta", "name": "api", "domains": [],
         "stop_policy": "exclude", "rate_messages": 100, "rate_window_s": 300}]
    assert [r["username"] for r in ctl.json("resource", "list", "beta")] == ["beta/api"]
    assert "acme/web" in ctl.ok("resource", "list")
    assert [(p["name"], p["resources"]) for p in ctl.json("project", "list")] == [
        ("acme", 1), ("beta", 1)]
    assert "acme" in ctl.ok("project", "list")

    new = ctl.json("resource", "passwd", "acme/web")
    assert new["username"] == "acme/web" and new["password"] not in (password, "")
    assert "password: " in ctl.ok("resource", "passwd", "acme/web")

    assert ctl.json("project", "set-quota", "acme", "--max-resources", "3")["resources_max"] == 3
    assert ctl.ok("domain", "remove", "acme/web", "example.org") == \
        "domain example.org removed from acme/web\n"
    assert ctl.json("resource", "remove", "beta/api") == {"removed": "beta/api", "domains": 0}
    assert ctl.ok("project", "remove", "acme") == \
        "project acme removed, with 1 resource and 1 domain\n"
    assert ctl.json("project", "remove", "beta") == {"removed": "beta", "resources": 0,
                                                     "domains": 0}
    assert ctl.json("project", "list") == []


def test_fourth_domain_is_refused_until_the_quota_is_raised(ctl):
    ctl.ok("project", "add", "acme")
    ctl.ok("resource", "add", "acme/web")
    for domain in ("a.example", "b.example", "c.example"):
        ctl.ok("domain", "add", "acme/web", domain)
    assert ctl.error("domain", "add", "acme/web", "d.example") == (
        "resource acme/web already has 3 of 3 domains; raise the quota with "
        "relayctl project set-quota acme --max-domains N")
    assert len(ctl.json("domain", "list", "acme/web")) == 3
    ctl.ok("project", "set-quota", "acme", "--max-domains", "4")
    ctl.ok("domain", "add", "acme/web", "d.example")
    assert len(ctl.json("domain", "list", "acme/web")) == 4


def test_quota_and_conflict_errors(ctl):
    ctl.ok("project", "add", "acme")
    ctl.ok("project", "add", "other")
    ctl.ok("resource", "add", "acme/web")
    ctl.ok("resource", "add", "other/main")
    ctl.ok("domain", "add", "other/main", "example.com")
    assert ctl.error("project", "add", "acme") == "project acme already exists"
    assert ctl.error("resource", "add", "acme/api") == (
        "project acme already has 1 of 1 resources; raise the quota with "
        "relayctl project set-quota acme --max-resources N")
    assert ctl.error("resource", "add", "nope/web") == \
        "no project nope (add it with relayctl project add nope)"
    assert ctl.error("domain", "add", "acme/web", "EXAMPLE.com") == \
        "domain example.com already belongs to resource other/main"
    assert ctl.error("domain", "remove", "acme/web", "example.com") == \
        "domain example.com is not a domain of acme/web"
    assert ctl.error("resource", "remove", "acme/nope") == "no resource acme/nope"
    assert ctl.error("resource", "passwd", "acme/nope") == "no resource acme/nope"
    assert ctl.error("domain", "list", "acme/nope") == "no resource acme/nope"
    assert ctl.error("resource", "list", "nope") == "no project nope"
    assert ctl.error("project", "remove", "nope") == "no project nope"
    ctl.ok("project", "set-quota", "acme", "--max-resources", "2")
    ctl.ok("resource", "add", "acme/api")
    assert ctl.error("project", "set-quota", "acme", "--max-resources", "1") == (
        "project acme has 2 resources; remove some before lowering --max-resources to 1")
    assert "not a valid project name" in ctl.error("project", "add", "Acme")
    assert "is not a resource (PROJECT/NAME)" in ctl.error("resource", "add", "acme")
    assert "is not a valid domain" in ctl.error("domain", "add", "acme/web", "localhost")
    # Nothing refused was written.
    assert [r["username"] for r in ctl.json("resource", "list")] == [
        "acme/api", "acme/web", "other/main"]


def test_usage_errors_exit_2(ctl):
    ctl.error("project", "set-quota", "acme", status=2)
    ctl.error("project", "add", status=2)
    ctl.error("project", "frobnicate", "x", status=2)
    ctl.error("domain", "add", "acme/web", status=2)
    ctl.error("project", "add", "acme", "--max-resources", "0", status=2)


def test_only_the_hash_of_a_password_is_stored(ctl):
    ctl.ok("project", "add", "acme")
    password = ctl.json("resource", "add", "acme/web")["password"]
    data = (ctl.folder / "store" / "data.mdb").read_bytes()
    assert password.encode() not in data
    assert b"$argon2id$v=19$m=256,t=1,p=1$" in data


def check_consistent(ctl):
    """What any committed state satisfies: every resource in an existing project, quotas held,
    a domain on one resource only; and the store still takes a write."""
    projects = {p["name"]: p for p in ctl.json("project", "list")}
    resources = ctl.json("resource", "list")
    seen = set()
    for resource in resources:
        project = projects[resource["project"]]
        assert len(resource["domains"]) <= project["domains_max"]
        for domain in resource["domains"]:
            assert domain not in seen
            seen.add(domain)
    for name, project in projects.items():
        owned = [r for r in resources if r["project"] == name]
        assert len(owned) == project["resources"] <= project["resources_max"]
    ctl.ok("project", "add", "probe")
    ctl.ok("project", "remove", "probe")
    return len(projects), len(resources), len(seen)


def test_kill_9_during_writes_leaves_a_consistent_store(ctl):
    seed = int(os.environ.get("RELAY_TEST_SEED", random.randrange(1 << 30)))
    print(f"RELAY_TEST_SEED={seed}")
    rng = random.Random(seed)
    script = f"""
        ctl() {{ "{RELAYCTL}" --config "{ctl.config}" "$@" >/dev/null 2>&1; }}
        i=$1
        while :; do
          i=$((i + 1))
          ctl project add p$i --max-resources 2
          ctl resource add p$i/a
          ctl resource add p$i/b
          ctl domain add p$i/a d$i.example
          ctl domain add p$i/b d$i.example
          ctl domain add p$i/b e$i.example
          ctl resource passwd p$i/a
          [ $((i % 3)) -eq 0 ] && ctl project remove p$((i - 1))
        done
        """
    totals = []
    for round_index in range(12):
        writer = subprocess.Popen(["bash", "-c", script, "bash", str(round_index * 1000)],
                                  start_new_session=True)
        time.sleep(rng.uniform(0.05, 0.6))
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
        totals.append(check_consistent(ctl))
    print("projects, resources, domains after each kill:", totals)
    assert totals[-1][0] > 0, "no write committed in any round"


def test_relayd_takes_a_change_within_a_second(relayd_factory):
    relayd = relayd_factory(FAST_HASHES)
    assert "tenants: generation 0: 0 projects" in relayd.log()
    started = time.monotonic()
    relayd.ctl("project", "add", "acme")
    while "tenants: generation 1: 1 projects" not in relayd.log():
        assert time.monotonic() - started < 3, relayd.log()
        time.sleep(0.02)
    # The refresh interval is 1 s; allow for a loaded machine.
    assert time.monotonic() - started < 2.0
    assert relayd.stop() == 0


def test_demo_tenant_is_created_once(ctl):
    script = REPO / "tools" / "demo-tenant"
    first = subprocess.run([str(script), str(RELAYCTL), str(ctl.config)], capture_output=True,
                           text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "SMTP username: demo/main" in first.stdout
    password = first.stdout.split("SMTP password: ", 1)[1].split()[0]
    assert len(password) == 32
    assert ctl.json("resource", "list") == [
        {"username": "demo/main", "project": "demo", "name": "main", "domains": ["example.com"],
         "stop_policy": "exclude", "rate_messages": 100, "rate_window_s": 300}]
    second = subprocess.run([str(script), str(RELAYCTL), str(ctl.config)], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "demo/main" in second.stdout and password not in second.stdout
    assert ctl.json("resource", "list")[0]["domains"] == ["example.com"]
    # One DKIM key, printed with its DNS record the first time only.
    assert 'demo._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=' in first.stdout
    assert "_domainkey" not in second.stdout
    [key] = ctl.json("dkim", "list")
    assert (key["domain"], key["selector"], key["algorithm"]) == (
        "example.com", "demo", "ed25519-sha256")
    assert len(ctl.json("project", "list")) == 1
    # An admin API token, printed the first time only.
    assert "Authorization: Bearer rlyadm_" in first.stdout
    assert "rlyadm_" not in second.stdout
    assert [token["name"] for token in ctl.json("admin-token", "list")] == ["demo"]


def test_store_folder_is_next_to_the_spool_unless_configured(tmp_path):
    listener = '[[listener]]\nname = "t"\naddress = "127.0.0.1:1"\n'
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "relayd.toml"
    config.write_text(listener + '[spool]\npath = "../var/spool"\n' + FAST_HASHES)
    subprocess.run([str(RELAYCTL), "--config", str(config), "project", "add", "a"], check=True,
                   timeout=60)
    assert (tmp_path / "var" / "store" / "data.mdb").exists()

    config.write_text(listener + '[store]\npath = "tenants"\nmap_bytes = 8388608\n' + FAST_HASHES)
    subprocess.run([str(RELAYCTL), "--config", str(config), "project", "add", "b"], check=True,
                   timeout=60)
    assert (folder / "tenants" / "data.mdb").exists()

    config.write_text(listener + '[store]\nrefresh_s = 1\n')
    result = subprocess.run([str(RELAYCTL), "--config", str(config), "project", "list"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "store.refresh_s" in result.stderr, result.stderr

"""DKIM keys through the real relayctl: generate and import for both algorithms, the DNS record
they print checked against the public key OpenSSL derives, list and remove, --json, the errors
and their exit codes, keys going with their domain, and the store readable by its owner only."""
import base64
import re
import stat
import subprocess

import pytest

from helpers import Ctl

CONFIG = """[[listener]]
name = "t"
address = "127.0.0.1:1"
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""


@pytest.fixture
def ctl(tmp_path):
    ctl = Ctl(tmp_path, CONFIG)
    ctl.ok("project", "add", "acme", "--max-domains", "3")
    ctl.ok("resource", "add", "acme/web")
    ctl.ok("domain", "add", "acme/web", "example.com")
    ctl.ok("domain", "add", "acme/web", "example.org")
    return ctl


def record_parts(record):
    """(owner name, the record text joined as RFC 6376 §3.6.2.2 joins it), checking the
    zone-file shape and the 255-octet strings on the way."""
    match = re.fullmatch(r'(\S+) IN TXT ((?:"[^"]*" ?)+)', record)
    assert match, record
    strings = re.findall(r'"([^"]*)"', match.group(2))
    assert all(1 <= len(text) <= 255 for text in strings), [len(text) for text in strings]
    return match.group(1), "".join(strings)


def tags(text):
    return dict(part.strip().split("=", 1) for part in text.split(";") if part.strip())


def openssl_public_der(pem_path):
    return subprocess.run(["openssl", "pkey", "-in", str(pem_path), "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout


def test_generate_prints_the_record_for_each_algorithm(ctl):
    out = ctl.ok("dkim", "generate", "Example.COM", "--selector", "s2026", "--algo", "rsa-2048")
    first, record = out.rstrip("\n").split("\n")
    assert first == ("DKIM key s2026 for example.com added (rsa-sha256, 2048 bits, "
                     "relaxed/relaxed); publish this DNS record:")
    owner, text = record_parts(record)
    assert owner == "s2026._domainkey.example.com."
    values = tags(text)
    assert text.startswith("v=DKIM1; ") and values["k"] == "rsa"
    spki = base64.b64decode(values["p"], validate=True)
    modulus = subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-noout", "-text"],
                             input=spki, capture_output=True, check=True).stdout
    assert b"Public-Key: (2048 bit)" in modulus
    assert len(record_parts(record)[1]) > 255  # an RSA-2048 record needs two strings

    made = ctl.json("dkim", "generate", "example.com", "--selector", "ed", "--algo", "ed25519",
                    "--canonicalization", "simple")
    assert made["algorithm"] == "ed25519-sha256" and made["bits"] == 256
    assert made["canonicalization"] == "simple/simple"
    owner, text = record_parts(made["dns_record"])
    assert owner == "ed._domainkey.example.com."
    assert tags(text)["k"] == "ed25519"
    assert len(base64.b64decode(tags(text)["p"], validate=True)) == 32


@pytest.mark.parametrize("command", [
    ["genpkey", "-algorithm", "ed25519", "-out"],
    ["genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out"],  # PKCS#8
    ["genrsa", "-traditional", "-out"],                                            # PKCS#1
])
def test_import_publishes_the_public_key_openssl_derives(ctl, tmp_path, command):
    pem = tmp_path / "key.pem"
    bits = ["2048"] if command[0] == "genrsa" else []
    subprocess.run(["openssl", *command, str(pem), *bits], capture_output=True, check=True)
    if command[0] == "genrsa":
        assert pem.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    added = ctl.json("dkim", "import", "example.org", "--selector", "imported", "--key", str(pem))
    der = openssl_public_der(pem)
    published = base64.b64decode(tags(record_parts(added["dns_record"])[1])["p"])
    if "ed25519" in command:
        assert added["algorithm"] == "ed25519-sha256"
        assert published == der[-32:]  # RFC 8463: the bare key, not the SubjectPublicKeyInfo
    else:
        assert added["algorithm"] == "rsa-sha256" and added["bits"] == 2048
        assert published == der
    # list shows the same record, read back from the store
    assert ctl.json("dkim", "list", "example.org") == [added]


def test_list_filters_and_remove_takes_one_selector(ctl):
    ctl.ok("dkim", "generate", "example.com", "--selector", "a", "--algo", "ed25519")
    ctl.ok("dkim", "generate", "example.com", "--selector", "b", "--algo", "ed25519")
    ctl.ok("dkim", "generate", "example.org", "--selector", "a", "--algo", "ed25519")
    everything = ctl.json("dkim", "list")
    assert [(key["domain"], key["selector"]) for key in everything] == [
        ("example.com", "a"), ("example.com", "b"), ("example.org", "a")]
    lines = ctl.ok("dkim", "list", "example.com").splitlines()
    assert lines[0].split() == ["DOMAIN", "SELECTOR", "ALGORITHM", "BITS", "CANONICALIZATION",
                                "CREATED"]
    assert [line.split()[:5] for line in lines[1:]] == [
        ["example.com", "a", "ed25519-sha256", "256", "relaxed/relaxed"],
        ["example.com", "b", "ed25519-sha256", "256", "relaxed/relaxed"]]
    assert ctl.ok("dkim", "remove", "example.com", "a").startswith(
        "DKIM key a for example.com removed")
    assert ctl.json("dkim", "remove", "example.com", "b") == {
        "removed": {"domain": "example.com", "selector": "b"}}
    assert [key["domain"] for key in ctl.json("dkim", "list")] == ["example.org"]
    assert ctl.error("dkim", "remove", "example.com", "a") == \
        "domain example.com has no DKIM key with selector a"


def test_errors_name_what_is_wrong(ctl, tmp_path):
    assert ctl.error("dkim", "generate", "example.net", "--selector", "s1") == (
        "domain example.net is not a domain of any resource (add it first with relayctl domain "
        "add PROJECT/NAME example.net)")
    ctl.ok("dkim", "generate", "example.com", "--selector", "s1", "--algo", "ed25519")
    assert ctl.error("dkim", "generate", "example.com", "--selector", "S1", "--algo",
                     "ed25519") == ("domain example.com already has a DKIM key with selector s1 "
                                    "(remove it first with relayctl dkim remove example.com s1)")
    assert "not a valid DKIM selector" in ctl.error("dkim", "generate", "example.com",
                                                    "--selector", "s;1")
    assert "not a valid domain" in ctl.error("dkim", "list", "exa mple")
    missing = tmp_path / "missing.pem"
    assert ctl.error("dkim", "import", "example.com", "--selector", "k", "--key",
                     str(missing)) == f"cannot read key file {missing}: No such file or directory"
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    assert ctl.error("dkim", "import", "example.com", "--selector", "k", "--key",
                     str(junk)).startswith(f"key file {junk}: ")
    encrypted = tmp_path / "encrypted.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-aes-128-cbc", "-pass",
                    "pass:secret", "-out", str(encrypted)], capture_output=True, check=True)
    assert ctl.error("dkim", "import", "example.com", "--selector", "k", "--key",
                     str(encrypted)).startswith(f"key file {encrypted}: ")
    ctl.error("dkim", "generate", "example.com", "--selector", "x", "--algo", "rsa-1024",
              status=2)
    ctl.error("dkim", "generate", "example.com", "--selector", "x", "--canonicalization", "nowsp",
              status=2)
    ctl.error("dkim", "generate", "example.com", status=2)
    assert [key["selector"] for key in ctl.json("dkim", "list")] == ["s1"]


def test_keys_go_with_their_domain_and_resource(ctl):
    ctl.ok("dkim", "generate", "example.com", "--selector", "s1", "--algo", "ed25519")
    ctl.ok("dkim", "generate", "example.org", "--selector", "s1", "--algo", "ed25519")
    ctl.ok("domain", "remove", "acme/web", "example.com")
    assert [key["domain"] for key in ctl.json("dkim", "list")] == ["example.org"]
    ctl.ok("domain", "add", "acme/web", "example.com")
    assert ctl.json("dkim", "list", "example.com") == []
    ctl.ok("resource", "remove", "acme/web")
    assert ctl.json("dkim", "list") == []


def test_private_keys_are_readable_by_the_store_owner_only(ctl):
    ctl.ok("dkim", "generate", "example.com", "--selector", "s1", "--algo", "ed25519")
    folder = ctl.folder / "store"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("data.mdb", "lock.mdb"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    # nothing relayctl prints carries the private key
    listed = ctl.ok("dkim", "list") + ctl.ok("dkim", "list", "--json")
    assert "PRIVATE" not in listed

"""The operator documentation keeps up with the code: every configuration key relayd reads is
explained in docs/configuration.md and shown in the example configuration, and every relayctl
command is in docs/relayctl.md; both programs print the project's version. (docs/smtp-replies.md
is checked by a unit test against the reply catalogue.)"""
import re
import subprocess

from conftest import BUILD, REPO

# How src/config/config.cc names a key it reads: table.integer("key", ...), and so on.
KEY_READ = re.compile(
    r'\.(?:integer|integer_list|string|string_list|boolean|choice|table|tables)\("([a-z0-9_]+)"')


def config_keys():
    source = (REPO / "src" / "config" / "config.cc").read_text()
    keys = sorted(set(KEY_READ.findall(source)))
    assert len(keys) > 30, "the key pattern no longer matches how config.cc reads keys"
    return keys


def test_every_configuration_key_is_documented():
    documented = (REPO / "docs" / "configuration.md").read_text()
    missing = [key for key in config_keys()
               if f"`{key}`" not in documented and f"[{key}]" not in documented]
    assert not missing, f"keys missing from docs/configuration.md: {missing}"


def test_every_configuration_key_is_in_the_example():
    example = (REPO / "config" / "relayd.example.toml").read_text()
    missing = [key for key in config_keys()
               if not re.search(rf"^(# ?)?({re.escape(key)} *=|\[+{re.escape(key)}\]+)", example,
                                re.MULTILINE)]
    assert not missing, f"keys missing from config/relayd.example.toml: {missing}"


def subcommands(*words):
    """The subcommands relayctl's --help lists after `words`."""
    result = subprocess.run([str(BUILD / "src" / "relayctl" / "relayctl"), *words, "--help"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("Subcommands:", 1)
    if words and len(listing) == 1:
        return []  # a command without verbs, such as `stats`
    assert len(listing) == 2, result.stdout
    return re.findall(r"^  ([a-z][a-z-]*) ", listing[1], re.MULTILINE)


def test_every_relayctl_command_is_documented():
    documented = (REPO / "docs" / "relayctl.md").read_text()
    groups = subcommands()
    assert "queue" in groups
    commands = [f"{group} {verb}".strip() for group in groups
                for verb in (subcommands(group) or [""])]
    assert len(commands) >= 6
    missing = [command for command in commands if f"relayctl {command}" not in documented
               and not re.search(rf"`[^`]*\b{command}\b[^`]*`", documented)]
    assert not missing, f"relayctl commands missing from docs/relayctl.md: {missing}"


def test_every_relayd_option_is_documented():
    result = subprocess.run([str(BUILD / "src" / "relayd" / "relayd"), "--help"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    options = sorted(set(re.findall(r"(--[a-z][a-z-]+)", result.stdout)) - {"--help"})
    assert "--config" in options and "--check-config" in options, result.stdout
    documented = "".join(path.read_text() for path in (REPO / "docs").glob("*.md"))
    missing = [option for option in options if option not in documented]
    assert not missing, f"relayd options missing from docs/: {missing}"


def test_version_is_printed_without_a_config():
    version = re.search(r"version: '([0-9.]+)'", (REPO / "meson.build").read_text()).group(1)
    for program in ("src/relayd/relayd", "src/relayctl/relayctl"):
        result = subprocess.run([str(BUILD / program), "--version"], capture_output=True,
                                text=True, timeout=10)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{program.rsplit('/', 1)[1]} {version}"

"""The failed-AUTH limits of [limits] are checked like every other limit: `relayd --check-config`
names a value out of bounds or a table size that is not a power of two."""
import subprocess

import pytest

from conftest import RELAYD

VALID = """
[[listener]]
address = "127.0.0.1:2525"
"""


def check_config(tmp_path, extra):
    path = tmp_path / "relayd.toml"
    path.write_text(VALID + "[limits]\n" + extra)
    return subprocess.run([str(RELAYD), "--config", str(path), "--check-config"],
                          capture_output=True, text=True, timeout=10)


def test_the_auth_limits_are_accepted_within_their_bounds(tmp_path):
    result = check_config(tmp_path, "auth_failures_before_delay = 0\n"
                                    "auth_failure_delay_ms = 250\n"
                                    "auth_failure_delay_ms_max = 600000\n"
                                    "auth_failures_before_lockout = 200\n"
                                    "auth_failure_window_s = 3600\n"
                                    "auth_lockout_s = 86400\n"
                                    "auth_throttle_slots = 1048576\n")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("extra, message", [
    ("auth_failures_before_lockout = 201\n", "between 0 and 200"),
    ("auth_failure_window_s = 0\n", "between 1 and 604800"),
    ("auth_failure_delay_ms = -1\n", "between 0 and 3600000"),
    ("auth_throttle_slots = 512\n", "between 1024 and 1048576"),
    ("auth_throttle_slots = 100000\n", "must be a power of two (got 100000)"),
])
def test_a_bad_auth_limit_is_named(tmp_path, extra, message):
    result = check_config(tmp_path, extra)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    key = extra.split(" ", 1)[0]
    assert len(lines) == 1 and f"limits.{key}" in lines[0] and message in lines[0], result.stderr

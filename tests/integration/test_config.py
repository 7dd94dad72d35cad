"""test_config.py -- the configuration as an operator meets it: `relayd --check-config` refuses
each bad value with its key named (and relayctl, reading the same file with the same loader,
refuses it too), and SIGHUP applies a new file to the sessions that start after it, keeps the
running configuration when the file is bad, and names the keys that need a restart.
"""
import signal
import subprocess
import textwrap

import pytest

from conftest import RELAYCTL, RELAYD, free_port
from helpers import SmtpClient, wait_until, relayd, relayd_factory  # noqa: F401


def check_config(tmp_path, text):
    path = tmp_path / "relayd.toml"
    path.write_text(textwrap.dedent(text))
    return subprocess.run([str(RELAYD), "--config", str(path), "--check-config"],
                          capture_output=True, text=True, timeout=30)


GOOD = """
    [[listener]]
    address = "127.0.0.1:2525"
    """


def test_check_config_accepts_a_good_file(tmp_path):
    result = check_config(tmp_path, GOOD + '[[route]]\ndomain = "*"\nhost = "mx.example.com:25"\n')
    assert result.returncode == 0, result.stderr
    assert ": ok (1 listeners" in result.stdout


@pytest.mark.parametrize("text, key, detail", [
    (GOOD + '[[route]]\ndomain = "example.com"\nhost = "mx:abc"\n',
     "route[0].host", '(got "abc")'),
    (GOOD + '[[route]]\ndomain = "example.com"\nhost = "mx.example.com"\n',
     "route[0].host", 'must be "HOST:PORT"'),
    (GOOD + '[[route]]\ndomain = "example.com"\nhost = "mx.example.com:0"\n',
     "route[0].host", "from 1 to 65535"),
    (GOOD + '[[route]]\ndomain = "example.com"\nhost = "mx..example.com:25"\n',
     "route[0].host", "neither a host name"),
    (GOOD + '[[route]]\ndomain = "exa mple.com"\nhost = "mx.example.com:25"\n',
     "route[0].domain", "must be a domain name"),
    ('[[listener]]\naddress = "127.0.0.1:70000"\n',
     "listener[0].address", '(got "70000")'),
    ('[[listener]]\naddress = "127.0.0.1:0"\n', "listener[0].address", "from 1 to 65535"),
    ('[[listener]]\naddress = "localhost:25"\n', "listener[0].address", "IP:PORT"),
    ('[[listener]]\naddress = "127.0.0.1:2525"\n[[listener]]\naddress = "127.0.0.1:2525"\n',
     "listener[1].address", "already the address"),
    (GOOD + "[limits]\nconnections_max = 99999999999999999999\n", None,
     "is not representable in 64 bits"),
    ('[server]\nhostname = "relay_1.example"\n' + GOOD, "server.hostname", "must be a host name"),
    (GOOD + '[delivery]\nresolvers = ["127.0.0.1:99999"]\n', "delivery.resolvers", "IP:PORT"),
    (GOOD + "[limits]\nrecipients_per_message_max = 0\n", "limits.recipients_per_message_max",
     "between 1 and 100000"),
    (GOOD + "[timeouts]\ncommand_s = -5\n", "timeouts.command_s", "between 1 and 86400"),
])
def test_check_config_refuses_a_bad_value_naming_its_key(tmp_path, text, key, detail):
    result = check_config(tmp_path, text)
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    if key is not None:
        assert f": {key}: " in result.stderr, result.stderr
    assert detail in result.stderr, result.stderr
    # relayctl reads the same file with the same loader.
    ctl = subprocess.run([str(RELAYCTL), "--config", str(tmp_path / "relayd.toml"), "queue",
                          "list"], capture_output=True, text=True, timeout=30)
    assert ctl.returncode == 1
    assert detail in ctl.stderr, ctl.stderr


def recipients_accepted(relayd, count):
    """How many of `count` recipients a new session accepts in one transaction."""
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.expect("MAIL FROM:<a@example.com>", 250)
        return sum(client.command(f"RCPT TO:<r{n}@example.net>").code == 250
                   for n in range(count))


def reload(relayd, settings, expected_log, server=None):
    """Rewrites the file (`server`: the lines of its [server] table), sends SIGHUP and waits
    for the log line that answers it."""
    seen = relayd.log().count(expected_log)
    if server is not None:
        relayd.server_settings = server
    relayd.write_config(settings, 2)
    relayd.process.send_signal(signal.SIGHUP)
    wait_until(lambda: relayd.log().count(expected_log) > seen, timeout=10,
               message=f"{expected_log!r} in the log")
    assert relayd.process.poll() is None, relayd.log()


LIMITED = "[limits]\nrecipients_per_message_max = 3\n"


def test_sighup_applies_new_limits_to_new_sessions(relayd_factory):
    relayd = relayd_factory(settings=LIMITED)
    assert recipients_accepted(relayd, 6) == 3
    with SmtpClient(relayd.port) as running:
        running.ehlo()
        reload(relayd, "[limits]\nrecipients_per_message_max = 5\n", "configuration reloaded")
        assert "limits applied" in relayd.log()
        # The reload reaches each worker through its inbox: a session accepted just after the
        # log line may still start under the old snapshot, never for long.
        wait_until(lambda: recipients_accepted(relayd, 8) == 5, timeout=5,
                   message="the new recipient limit")
        # A session that was open keeps the limits it started with.
        running.expect("MAIL FROM:<a@example.com>", 250)
        codes = [running.command(f"RCPT TO:<r{n}@example.net>").code for n in range(4)]
        assert codes == [250, 250, 250, 452]


def test_sighup_changes_the_log_level(relayd_factory):
    relayd = relayd_factory()
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        before = client.data(b"Subject: one\r\n\r\nHello.\r\n.\r\n")
    queue_id = before.text.split()[-1]
    wait_until(lambda: queue_id in relayd.log(), message="the info line of the first message")
    reload(relayd, "", "configuration reloaded",
           server='shutdown_grace_s = 5\nlog_level = "warning"\n')
    assert "server.log_level applied" in relayd.log()
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        after = client.data(b"Subject: two\r\n\r\nHello.\r\n.\r\n")
    assert after.code == 250
    assert after.text.split()[-1] not in relayd.log()  # info lines are no longer written


def test_sighup_with_a_bad_file_keeps_the_running_configuration(relayd_factory):
    relayd = relayd_factory(settings=LIMITED)
    reload(relayd, "[limits]\nrecipients_per_message_max = 0\n",
           "the running configuration stays in force")
    log = relayd.log()
    assert "configuration not reloaded" in log
    assert "limits.recipients_per_message_max: must be between 1 and 100000 (got 0)" in log
    assert recipients_accepted(relayd, 6) == 3
    # A file that does not parse at all is refused the same way.
    reload(relayd, LIMITED + "[limits\n", "the running configuration stays in force")
    assert relayd.log().count("configuration not reloaded") == 2
    assert recipients_accepted(relayd, 6) == 3


def test_sighup_names_a_listener_change_that_needs_a_restart(relayd_factory):
    relayd = relayd_factory(settings=LIMITED)
    old_port, new_port = relayd.port, free_port()
    relayd.port = new_port
    reload(relayd, LIMITED, "needs a restart")
    relayd.port = old_port
    assert "listener[0].address changed but needs a restart; the running value stays" in \
        relayd.log()
    assert "nothing to apply" in relayd.log()
    assert recipients_accepted(relayd, 4) == 3  # still served on the old address
    with pytest.raises(OSError):
        SmtpClient(new_port, timeout=1)


def test_sighup_applies_a_shorter_timeout_to_an_open_session(relayd_factory):
    relayd = relayd_factory(settings="[timeouts]\ncommand_s = 300\n")
    with SmtpClient(relayd.port, timeout=10) as client:
        client.ehlo()
        reload(relayd, "[timeouts]\ncommand_s = 1\n", "timeouts applied")
        reply = client.reply(timeout=5)
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply


def test_sighup_applies_a_lower_connection_limit_to_new_connections(relayd_factory):
    relayd = relayd_factory()
    with SmtpClient(relayd.port) as first, SmtpClient(relayd.port) as second:
        first.ehlo()
        second.ehlo()
        reload(relayd, "[limits]\nconnections_per_client_max = 2\n", "limits applied")
        # The two open connections stay; a third from the same address is refused.
        with SmtpClient(relayd.port, greet=False) as third:
            reply = third.reply()
            assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        first.expect("NOOP", 250)
        second.expect("NOOP", 250)

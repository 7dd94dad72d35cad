"""test_bounce_postfix.py -- a real MTA writes the bounce: relayd delivers a message of resource
acme/main to a private instance of Debian's Postfix, which accepts the recipient (its domain is
Postfix's mydestination) and then fails the local delivery (no such local user); Postfix sends its
DSN to the envelope sender, relayd's VERP address, routed by transport_maps to relayd's bounce
listener on loopback. The recipient lands on the resource's stop list with reason hard_bounce,
and relayctl stats shows one hard bounce.

The Postfix instance has its own config_directory and queue_directory under the test's folder and
listens on a free loopback port; it never touches /etc/postfix or the system's queue, and is
stopped at the end of the test. It runs as root (Postfix's daemons switch to the postfix user).
The test is skipped only when Postfix is missing and cannot be installed.
"""
import json
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port, wait_for_port
from delivery_support import delivery_settings, wait_ready
from helpers import wait_until

# Alone: it installs Postfix where it is missing, and apt must not run beside other tests.
pytestmark = pytest.mark.serial

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
BOUNCE_DOMAIN = "bounces.relay.test"
KEY = bytes(range(32))
POSTFIX_DOMAIN = "postfix.test"


def postfix_available():
    """Installs Debian's postfix, unconfigured, when it is missing (root only)."""
    if os.access(POSTFIX, os.X_OK):
        return True
    if os.geteuid() != 0:
        return False
    selections = "postfix postfix/main_mailer_type select No configuration\n"
    subprocess.run(["debconf-set-selections"], input=selections, text=True, check=False)
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=environment, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postfix"],
                   env=environment, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return os.access(POSTFIX, os.X_OK)


class Postfix:
    """A private Postfix: smtpd on 127.0.0.1:port takes mail for POSTFIX_DOMAIN and hands it to
    local(8), which knows no such user; mail for the bounce domain goes to relayd."""

    def __init__(self, folder, port, bounce_port):
        self.folder = folder
        self.port = port
        self.config_dir = folder / "conf"
        self.log_path = folder / "postfix.log"
        for path in (self.config_dir, folder / "queue", folder / "data"):
            path.mkdir(parents=True)
        shutil.chown(folder / "data", user="postfix")
        os.chmod(folder, 0o755)  # the daemons, as user postfix, must reach the queue
        shutil.copy("/etc/postfix/master.cf", self.config_dir)
        (self.config_dir / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
maillog_file = {self.log_path}
maillog_file_prefixes = {folder}
myhostname = mx.{POSTFIX_DOMAIN}
mydomain = {POSTFIX_DOMAIN}
myorigin = $myhostname
mydestination = {POSTFIX_DOMAIN}
# Every local part is accepted at RCPT; local(8) finds no such user at delivery.
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
# The DSN goes to relayd's bounce listener; nothing else leaves.
transport_maps = inline:{{ {BOUNCE_DOMAIN}=smtp:[127.0.0.1]:{bounce_port} }}
default_transport = error:no mail leaves this test instance
smtp_dns_support_level = disabled
smtp_host_lookup = native
""")
        self.postconf("-F", "*/*/chroot = n")
        self.postconf("-M#", "smtp/inet")
        self.postconf("-M", f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd")
        self.postconf("-M", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")
        self.started = False

    def postconf(self, *arguments):
        subprocess.run([POSTCONF, "-c", str(self.config_dir), *arguments], check=True,
                       stdout=subprocess.DEVNULL)

    def command(self, verb):
        return subprocess.run([POSTFIX, "-c", str(self.config_dir), verb], capture_output=True,
                              text=True)

    def start(self):
        checked = self.command("check")
        assert checked.returncode == 0, checked.stderr
        started = self.command("start")
        assert started.returncode == 0, started.stderr + self.log()
        self.started = True
        wait_for_port(self.port)

    def stop(self):
        if self.started:
            if self.command("stop").returncode != 0:
                self.command("abort")
            self.started = False

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def postfix_factory():
    if not postfix_available():
        pytest.skip("Debian's postfix is not installed and cannot be installed here")
    # Not under pytest's tmp_path: its folders are 0700, and Postfix's daemons run as postfix.
    folder = Path(tempfile.mkdtemp(prefix="relay-postfix-"))
    os.chmod(folder, 0o755)
    made = []

    def make(bounce_port):
        instance = Postfix(folder / "postfix", free_port(), bounce_port)
        made.append(instance)
        instance.start()
        return instance

    yield make
    for instance in made:
        instance.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_postfix_bounces_a_delivered_message_and_the_recipient_is_stop_listed(
        relayd_factory, postfix_factory):
    bounce_port = free_port()
    postfix = postfix_factory(bounce_port)
    settings = delivery_settings(None, 25, routes=[(POSTFIX_DOMAIN, f"127.0.0.1:{postfix.port}")])
    settings += f"""
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[[listener]]
name = "bounces"
address = "127.0.0.1:{bounce_port}"
role = "bounce"

[return_path]
bounce_domain = "{BOUNCE_DOMAIN}"
key = "{KEY.hex()}"
"""
    relayd = relayd_factory(settings=settings, start=False,
                            listener='auth = "required"\nauth_plaintext = true\n')
    relayd.ctl("project", "add", "acme")
    password = re.search(r"password: (\S+)", relayd.ctl("resource", "add", "acme/main").stdout)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.start()
    wait_ready(relayd)

    recipient = f"nosuchuser@{POSTFIX_DOMAIN}"
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.login("acme/main", password.group(1))
    client.sendmail("ann@acme.example", [recipient],
                    f"From: <ann@acme.example>\r\nTo: <{recipient}>\r\nSubject: hello\r\n"
                    f"Message-ID: <{time.monotonic_ns()}@acme.example>\r\n\r\nHello.\r\n")
    client.quit()

    def listed():
        out = json.loads(relayd.ctl("stoplist", "check", recipient, "--resource", "acme/main",
                                    "--json").stdout)
        return out.get("entry")

    try:
        entry = wait_until(listed, timeout=60, interval=0.2,
                           message="the recipient on acme/main's stop list")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- postfix log:\n{postfix.log()[-3000:]}\n"
                             f"--- relayd log:\n{relayd.log()[-3000:]}")
    assert (entry["scope"], entry["reason"]) == ("acme/main", "hard_bounce")
    # Postfix's own DSN, as relayd logged it: its status and reason.
    assert re.search(rf"resource=acme/main recipient=<{re.escape(recipient)}> kind=hard_bounce "
                     r"status=5\.1\.1 reason=no_such_user report=delivery_status", relayd.log())
    assert re.search(r"to=<bounces\+[a-z2-7]{48}@bounces\.relay\.test>.*status=sent",
                     postfix.log()), postfix.log()[-2000:]

    def resource_counts():
        [column] = json.loads(relayd.ctl("stats", "--resource", "acme/main",
                                         "--json").stdout)["columns"]
        return column["counts"]

    wait_until(lambda: resource_counts()["bounced_hard"] == 1, timeout=10,
               message="one hard bounce in relayctl stats")
    counts = resource_counts()
    assert (counts["delivered"], counts["bounced_hard"], counts["bounced_soft"],
            counts["stop_listed"]) == (1, 1, 0, 1)
    table = relayd.ctl("stats", "--resource", "acme/main").stdout
    assert re.search(r"bounced_hard\s+1\b", table), table

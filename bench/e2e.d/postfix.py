"""postfix -- the Postfix baseline of bench/e2e: an instance of Debian's Postfix of its own.

What it is for: installing Postfix when it is missing (debconf "No configuration", so nothing is
started or configured by the package), and running a private instance configured by hand as a
loopback relay: its own configuration folder and durable queue under the benchmark's scratch
folder (never /etc/postfix or /var/spool/postfix), smtpd on 127.0.0.1:PORT, everything relayed
to [127.0.0.1]:SINKPORT (bracketed: no MX lookup, no DNS), bounces to the sender's domain to a
second sink. Runs on the benchmark's main thread. Touches no untrusted bytes. It must never
leave the instance running: `stop` ends master and all its daemons.

The settings follow the measured baseline in the project's Postfix reference script, with two
additions so that a queue behaves like a real one under sink push-back and the run ends in
seconds rather than in Postfix's default 5-minute retry interval: minimal and maximal backoff
and the deferred-queue scan all 1 s (relayd gets retry_schedule_s = [1]).
"""
import os
import shutil
import subprocess
import time

from relaybench import BenchError, ProcessGroupView, wait_port

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTKICK = "/usr/sbin/postkick"


def ensure_installed():
    """Installs Debian's postfix package without configuring it, when it is missing."""
    if os.access(POSTFIX, os.X_OK):
        return
    print("installing postfix (debconf: No configuration)", flush=True)
    selections = ("postfix postfix/main_mailer_type select No configuration\n"
                  "postfix postfix/mailname string relay.local\n")
    subprocess.run(["debconf-set-selections"], input=selections, text=True, check=True)
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=environment, check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], env=environment,
                   check=True, stdout=subprocess.DEVNULL)
    if not os.access(POSTFIX, os.X_OK):
        raise BenchError("postfix is not installed after apt-get install postfix")


def main_cf(folder, sink_port, bounce_port, capture_port=None, milter=None):
    """main.cf of the instance; its smtpd listener is added to master.cf. With `capture_port`,
    mail to capture.test goes there; with `milter` ("unix:PATH"), smtpd passes every message
    through it, and a milter failure defers the message rather than letting it out unsigned."""
    capture = f", capture.test=smtp:[127.0.0.1]:{capture_port}" if capture_port else ""
    milters = (f"smtpd_milters = {milter}\nmilter_default_action = tempfail\n"
               if milter else "")
    return f"""\
compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
maillog_file = {folder}/postfix.log
myhostname = relay.local
mydomain = local
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
smtputf8_enable = no
# Everything to the sink, bounces (to the sender's domain) to the bounce sink; bracketed
# next hops: no MX lookup.
relayhost = [127.0.0.1]:{sink_port}
transport_maps = inline:{{ example.com=smtp:[127.0.0.1]:{bounce_port}{capture} }}
smtp_dns_support_level = disabled
smtp_host_lookup = native
# Concurrency as in the measured baseline.
default_destination_concurrency_limit = 50
smtp_destination_concurrency_limit = 50
initial_destination_concurrency = 5
default_process_limit = 100
# Retries within a second (the sink defers a share of messages), as relayd's [1].
minimal_backoff_time = 1s
maximal_backoff_time = 1s
queue_run_delay = 1s
{milters}"""


class PostfixInstance:
    """A private Postfix instance in `folder` listening on 127.0.0.1:port."""

    def __init__(self, folder, port, sink_port, bounce_port, capture_port=None, milter=None):
        self.folder = folder
        self.port = port
        self.config_dir = os.path.join(folder, "conf")
        self.log_path = os.path.join(folder, "postfix.log")
        os.makedirs(self.config_dir)
        os.makedirs(os.path.join(folder, "queue"))
        data = os.path.join(folder, "data")
        os.makedirs(data)
        shutil.chown(data, user="postfix")
        # Postfix's daemons run as the postfix user and must reach the queue through these.
        os.chmod(folder, 0o755)
        shutil.copy("/etc/postfix/master.cf", self.config_dir)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as config:
            config.write(main_cf(folder, sink_port, bounce_port, capture_port, milter))
        self.postconf("-F", "*/*/chroot = n")
        self.postconf("-M#", "smtp/inet")
        self.postconf("-M", f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd")
        self.postconf("-M", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")
        self.master_pid = None

    def postconf(self, *arguments):
        subprocess.run([POSTCONF, "-c", self.config_dir, *arguments], check=True,
                       stdout=subprocess.DEVNULL)

    def postfix(self, command, check=True):
        result = subprocess.run([POSTFIX, "-c", self.config_dir, command], capture_output=True,
                                text=True)
        if check and result.returncode != 0:
            raise BenchError(f"postfix {command} failed: {result.stderr.strip()} "
                             f"(see {self.log_path})")
        return result.returncode

    def start(self):
        self.postfix("check")
        self.postfix("start")
        pid_file = os.path.join(self.folder, "queue", "pid", "master.pid")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.master_pid is None:
            try:
                with open(pid_file) as text:
                    self.master_pid = int(text.read().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        if self.master_pid is None:
            raise BenchError(f"postfix master did not start (see {self.log_path})")
        wait_port(self.port)

    def view(self):
        return ProcessGroupView(self.master_pid, with_children=True)

    def check_alive(self):
        if self.master_pid is None or not os.path.exists(f"/proc/{self.master_pid}"):
            raise BenchError(f"postfix master is gone (see {self.log_path})")

    def queued_files(self):
        """Queue files not yet finished: incoming, active, deferred, hold, maildrop."""
        count = 0
        for queue in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.folder, "queue", queue)):
                count += len(files)
        return count

    def nudge_incoming(self):
        """When mail waits in the incoming queue, makes qmgr scan it now, time stamps
        ignored. Returns whether there was anything to scan.

        Why: when qmgr's deferred scan finds a message whose delivery agent still holds the
        queue file's lock ("skipped, still being delivered": with a 1-second backoff on a
        loaded machine the retry can come before the agent has let go), it moves the file
        back to incoming with a time stamp 60 s ahead (qmgr_active_feed), and the message
        sits there for a minute: an artefact of the benchmark's short backoff that a
        Postfix with its default 300 s never meets. "A" (scan all, ignore time stamps) and
        "I" (scan incoming) bring it back at once; the deferred queue gets "A" at its next
        scan, which at most brings 1-second retries a little forward."""
        waiting = 0
        for _, _, files in os.walk(os.path.join(self.folder, "queue", "incoming")):
            waiting += len(files)
        if waiting:
            subprocess.run([POSTKICK, "-c", self.config_dir, "public", "qmgr", "AI"],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return waiting > 0

    def log_problems(self, limit=10):
        problems = []
        try:
            with open(self.log_path, errors="replace") as log:
                for line in log:
                    if "warning:" in line or "fatal:" in line or "panic:" in line:
                        problems.append(line.rstrip())
        except OSError:
            pass
        return len(problems), problems[:limit]

    def stop(self):
        """`postfix stop`, then `postfix abort` and SIGKILL for whatever is left."""
        if self.master_pid is None:
            self.postfix("stop", check=False)  # in case start got half way
            return
        self.postfix("stop", check=False)
        if not self.wait_master_gone(15):
            self.postfix("abort", check=False)
            if not self.wait_master_gone(5):
                for pid in self.view().members():
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass
        self.master_pid = None

    def wait_master_gone(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{self.master_pid}"):
                return True
            time.sleep(0.1)
        return False

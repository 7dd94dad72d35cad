"""SMTP AUTH against the tenant store, with real clients (smtplib and swaks): a resource logs in
with PLAIN or LOGIN and sends from its own domains only; wrong passwords, MAIL before AUTH,
another tenant's domain and the null sender are refused; relayctl changes (a new domain, a new
password) take effect on the running relayd within a second."""
import base64
import re
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import RELAYCTL
from delivery_support import make_certificate
from helpers import wait_until

AUTH_SETTINGS = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""


def ctl(relayd, *arguments):
    result = subprocess.run([str(RELAYCTL), "--config", str(relayd.config_path), *arguments],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"relayctl {' '.join(arguments)}: {result.stderr}"
    return result.stdout


def password_of(output):
    match = re.search(r"password: (\S+)", output)
    assert match, output
    return match.group(1)


@pytest.fixture
def tenants(relayd_factory):
    """relayd requiring AUTH on its loopback listener, with two tenants:
    acme/main (acme.example) and other/main (other.example)."""
    relayd = relayd_factory(settings=AUTH_SETTINGS, listener='auth = "required"\n'
                            'auth_plaintext = true\n', start=False)
    passwords = {}
    for project in ("acme", "other"):
        ctl(relayd, "project", "add", project)
        passwords[project] = password_of(ctl(relayd, "resource", "add", f"{project}/main"))
        ctl(relayd, "domain", "add", f"{project}/main", f"{project}.example")
    relayd.passwords = passwords
    return relayd.start()


def message(sender):
    return f"From: <{sender}>\r\nTo: <b@example.net>\r\nSubject: t\r\n\r\nhello\r\n"


def logged_in(relayd, user="acme/main", password=None):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo()
    client.login(user, password or relayd.passwords[user.split("/")[0]])
    return client


def test_a_resource_logs_in_with_plain_or_login_and_sends_as_its_domain(tenants):
    # Both mechanisms, through smtplib's own choice and forced.
    for mechanism in ("PLAIN", "LOGIN"):
        client = smtplib.SMTP("127.0.0.1", tenants.port, timeout=20)
        client.ehlo()
        assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
        client.user, client.password = "acme/main", tenants.passwords["acme"]
        code, reply = client.auth(mechanism, getattr(client, "auth_" + mechanism.lower()),
                                  initial_response_ok=(mechanism == "PLAIN"))
        assert code == 235, reply
        # sendmail raises unless MAIL, RCPT and the data all got 2xx.
        client.sendmail("a@acme.example", ["b@example.net"], message("a@acme.example"))
        client.quit()
    wait_until(lambda: len(re.findall(r"login acme/main", tenants.log())) == 2,
               message="two logins in the log")


def test_swaks_logs_in_and_sends(tenants):
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tenants.port}", "--auth", "LOGIN",
         "--auth-user", "acme/main", "--auth-password", tenants.passwords["acme"],
         "--from", "a@acme.example", "--to", "b@example.net"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0 Authentication successful" in result.stdout
    assert re.search(r"250 2\.0\.0 Ok: queued as", result.stdout)


def test_refusals_each_have_their_reply(tenants):
    client = smtplib.SMTP("127.0.0.1", tenants.port, timeout=20)
    client.ehlo()
    assert client.mail("a@acme.example") == (530, b"5.7.0 Authentication required")
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login("acme/main", "not the password")
    assert refused.value.smtp_code == 535
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login("nobody/here", "x")
    client.close()

    client = logged_in(tenants)
    # Another tenant's domain, an unknown domain, and the null sender.
    for sender in ("a@other.example", "a@unknown.example", ""):
        code, reply = client.mail(sender)
        assert code == 553 and reply.startswith(b"5.7.1"), (sender, code, reply)
    assert client.mail("A@ACME.EXAMPLE")[0] == 250  # domains compare without case
    client.quit()
    assert "not the password" not in tenants.log()  # nothing secret in the log


def test_a_domain_added_while_running_is_accepted_on_the_next_message(tenants):
    client = logged_in(tenants)
    assert client.mail("a@new.example")[0] == 553
    client.rset()
    ctl(tenants, "domain", "add", "acme/main", "new.example")

    def accepted():
        return client.mail("a@new.example")[0] == 250 or client.rset() and False
    wait_until(accepted, timeout=5, message="the new domain accepted")
    client.quit()


def test_a_new_password_invalidates_the_old_one(tenants):
    old = tenants.passwords["acme"]
    logged_in(tenants).quit()  # remembered by the worker now
    new = password_of(ctl(tenants, "resource", "passwd", "acme/main"))

    def old_refused():
        client = smtplib.SMTP("127.0.0.1", tenants.port, timeout=20)
        client.ehlo()
        try:
            client.login("acme/main", old)
            return False
        except smtplib.SMTPAuthenticationError:
            return True
        finally:
            client.close()
    wait_until(old_refused, timeout=5, message="the old password refused")
    logged_in(tenants, password=new).quit()


def test_login_pipelined_behind_a_slow_check_is_answered_in_order(tenants):
    # AUTH with an initial response and MAIL in one write: the MAIL waits for the hash.
    plain = base64.b64encode(b"\0acme/main\0" + tenants.passwords["acme"].encode()).decode()
    client = smtplib.SMTP("127.0.0.1", tenants.port, timeout=20)
    client.ehlo()
    client.send(f"AUTH PLAIN {plain}\r\nMAIL FROM:<a@acme.example>\r\n".encode())
    assert client.getreply() == (235, b"2.7.0 Authentication successful")
    assert client.getreply() == (250, b"2.1.0 Ok")
    client.close()


def make_tls_tenants(relayd_factory, tmp_path, mode):
    """relayd requiring AUTH on a TLS listener (`mode`: "starttls" or "implicit") that does not
    offer AUTH in plaintext."""
    (tmp_path / "tls").mkdir()
    cert, key = make_certificate(tmp_path / "tls", "relay.test")
    relayd = relayd_factory(
        settings=AUTH_SETTINGS + f'\n[tls]\ncertificate_chain_file = "{cert}"\n'
        f'private_key_file = "{key}"\n',
        listener=f'auth = "required"\ntls = "{mode}"\n', start=False)
    ctl(relayd, "project", "add", "acme")
    relayd.password = password_of(ctl(relayd, "resource", "add", "acme/main"))
    ctl(relayd, "domain", "add", "acme/main", "acme.example")
    return relayd.start()


def test_auth_waits_for_starttls_and_then_works(relayd_factory, tmp_path):
    tls_tenants = make_tls_tenants(relayd_factory, tmp_path, "starttls")
    client = smtplib.SMTP("127.0.0.1", tls_tenants.port, timeout=20)
    client.ehlo()
    assert "auth" not in client.esmtp_features  # not offered in plaintext
    plain = base64.b64encode(b"\0acme/main\0" + tls_tenants.password.encode()).decode()
    assert client.docmd("AUTH", f"PLAIN {plain}")[0] == 538
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.starttls(context=context)
    client.ehlo()
    assert "PLAIN" in client.esmtp_features["auth"]
    client.login("acme/main", tls_tenants.password)
    client.sendmail("a@acme.example", ["b@example.net"], message("a@acme.example"))
    client.quit()


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_with_tls_and_auth(relayd_factory, tmp_path, mode, mechanism):
    # swaks --tls (STARTTLS) or --tlsc (implicit TLS, port 465 style), with each mechanism.
    tls_tenants = make_tls_tenants(relayd_factory, tmp_path, mode)
    tls_option = "--tls" if mode == "starttls" else "--tlsc"
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tls_tenants.port}", tls_option, "--auth", mechanism,
         "--auth-user", "acme/main", "--auth-password", tls_tenants.password,
         "--from", "a@acme.example", "--to", "b@example.net"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0 Authentication successful" in result.stdout
    assert re.search(r"250 2\.0\.0 Ok: queued as", result.stdout)


def test_password_guessing_is_slowed_then_locked_out(relayd_factory):
    relayd = relayd_factory(settings=AUTH_SETTINGS.replace(
        "[credentials]", "[limits]\nauth_failures_before_delay = 2\nauth_failure_delay_ms = 600\n"
        "auth_failures_before_lockout = 4\nauth_lockout_s = 60\n\n[credentials]"),
        listener='auth = "required"\nauth_plaintext = true\n', start=False)
    ctl(relayd, "project", "add", "acme")
    password = password_of(ctl(relayd, "resource", "add", "acme/main"))
    relayd.start()

    def attempt(secret, source="127.0.0.1"):
        client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20,
                              source_address=(source, 0))
        client.ehlo()
        # One AUTH PLAIN (smtplib's login() would try LOGIN after a failed PLAIN).
        plain = base64.b64encode(b"\0acme/main\0" + secret.encode()).decode()
        started = time.monotonic()
        code, _ = client.docmd("AUTH", f"PLAIN {plain}")
        took = time.monotonic() - started
        client.close()
        return code, took

    first, second = attempt("guess 1"), attempt("guess 2")
    assert first[0] == second[0] == 535 and first[1] < 0.5 and second[1] < 0.5, relayd.log()
    third = attempt("guess 3")
    assert third[0] == 535 and third[1] >= 0.5, third  # each further guess waits
    assert attempt("guess 4")[0] == 535
    # Locked out now, for the username from any address: even the right password gets the 454 of
    # a store that cannot answer, at once, and no hash is spent on it.
    for source in ("127.0.0.1", "127.0.0.2"):
        code, took = attempt(password, source)
        assert code == 454 and took < 0.5, (source, code, took)
    wait_until(lambda: "locked out after repeated failures" in relayd.log(),
               message="the lockout in the log")
    assert password not in relayd.log()


def test_the_from_field_must_be_of_the_resources_domains(tenants):
    client = logged_in(tenants)

    def send(from_field):
        client.mail("a@acme.example")
        client.rcpt("b@example.net")
        code, reply = client.data(f"From: {from_field}\r\nSubject: t\r\n\r\nhi\r\n".encode())
        return code, reply

    assert send("Alice <alice@acme.example>")[0] == 250
    code, reply = send("Alice <alice@other.example>")  # another tenant's domain
    assert code == 550 and reply.startswith(b"5.7.1"), reply
    code, reply = send("alice@acme.example <ceo@other.example>")  # a display-name trick
    assert code == 550, reply
    code, reply = send("a@acme.example, b@unknown.example")  # every address counts
    assert code == 550, reply
    client.quit()

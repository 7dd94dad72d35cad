"""Stop lists through relayd and relayctl: under `exclude` a listed recipient gets 550 5.7.1 at
RCPT and the others get the message at a real receiving server; under `reject_message` DATA and
BDAT get 554 5.7.1 naming the listed recipients and nobody gets it; whole-domain entries and the
case of domains; the global list against a resource's; expiry; changes made with relayctl while
relayd runs count from the next RCPT; a 100,000-row CSV with bad rows imports (bad rows named by
line) and exports back to the same rows; a resource's removal takes its list with it."""
import json
import smtplib
import time

import pytest

from conftest import free_port
from delivery_support import Receiver, delivery_settings
from helpers import wait_until

SETTINGS = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[store]
refresh_interval_ms = 100
"""

STOPPED = "recipient is on the stop list"


@pytest.fixture
def net(relayd_factory):
    """relayd requiring AUTH, delivering everything to one aiosmtpd receiver on loopback, with
    two tenants: acme/main (acme.example) and other/main (other.example)."""
    port = free_port()
    receiver = Receiver("127.0.0.1", port)
    relayd = relayd_factory(
        settings=SETTINGS + delivery_settings(routes=[("*", f"127.0.0.1:{port}")]),
        listener='auth = "required"\nauth_plaintext = true\n', start=False)
    relayd.passwords = {}
    for project in ("acme", "other"):
        relayd.ctl("project", "add", project)
        added = relayd.ctl("resource", "add", f"{project}/main").stdout
        relayd.passwords[project] = added.split("password: ")[1].split()[0]
        relayd.ctl("domain", "add", f"{project}/main", f"{project}.example")
    relayd.start()
    relayd.receiver = receiver
    yield relayd
    receiver.stop()


def ok(relayd, *arguments):
    return relayd.ctl(*arguments).stdout


def ctl_json(relayd, *arguments):
    return json.loads(ok(relayd, *arguments, "--json"))


def login(relayd, project="acme"):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo()
    client.login(f"{project}/main", relayd.passwords[project])
    return client


def message(subject, sender="a@acme.example"):
    return (f"From: <{sender}>\r\nTo: <list@dest.example>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{time.monotonic_ns()}@client.test>\r\n\r\nhello\r\n")


def rcpt(client, address):
    return client.rcpt(address)


def delivered_to(relayd, subject):
    """The recipients of the delivered message(s) with this subject."""
    recipients = []
    for item in list(relayd.receiver.received):
        if f"Subject: {subject}\r\n".encode() in item.data:
            recipients += item.recipients
    return sorted(recipients)


def send_marker(relayd, subject="marker"):
    """Sends a clean message and waits until it arrives: what was sent before it and was going
    to arrive has arrived (one relayd, one route, one receiver)."""
    client = login(relayd)
    client.sendmail("a@acme.example", ["marker@dest.example"], message(subject))
    client.quit()
    wait_until(lambda: delivered_to(relayd, subject), message=f"{subject} delivered")


def test_exclude_refuses_the_listed_recipient_and_delivers_to_the_others(net):
    ok(net, "stoplist", "add", "bob@dest.example", "--resource", "acme/main",
            "--reason", "hard_bounce")
    client = login(net)
    refused = client.sendmail("a@acme.example",
                              ["alice@dest.example", "bob@dest.example", "carol@dest.example"],
                              message("exclude"))
    client.quit()
    assert refused == {"bob@dest.example":
                       (550, b"5.7.1 <bob@dest.example>: recipient is on the stop list")}
    wait_until(lambda: delivered_to(net, "exclude") == ["alice@dest.example",
                                                       "carol@dest.example"],
               message="delivery to alice and carol")
    send_marker(net)
    assert delivered_to(net, "exclude") == ["alice@dest.example", "carol@dest.example"]
    assert not net.receiver.rcpts("bob@dest.example")
    wait_until(lambda: "recipient <bob@dest.example> is on the resource's list (address, "
               "hard_bounce): refused" in net.log(), message="the log line")


def test_reject_message_sends_to_nobody_and_names_the_listed(net):
    ok(net, "resource", "set-policy", "acme/main", "reject_message")
    listed = [f"l{index}@dest.example" for index in range(7)]
    for address in listed:
        ok(net, "stoplist", "add", address, "--resource", "acme/main")

    def policy_arrived():
        # The policy reaches relayd with the tenant snapshot (store.refresh_interval_ms); until
        # then a listed recipient is refused at RCPT.
        client = login(net)
        client.mail("a@acme.example")
        code = rcpt(client, listed[0])[0]
        client.quit()
        return code == 250

    wait_until(policy_arrived, timeout=5, message="the reject_message policy")
    client = login(net)
    client.mail("a@acme.example")
    codes = [rcpt(client, address)[0] for address in ["ok@dest.example"] + listed]
    assert codes == [250] * 8, codes
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.data(message("rejected").encode())
    client.quit()
    code, text = refused.value.smtp_code, refused.value.smtp_error
    assert code == 554
    assert text == (b"5.7.1 Error: message not sent to anyone: recipients on the stop list: "
                    b"<l0@dest.example>, <l1@dest.example>, <l2@dest.example>, "
                    b"<l3@dest.example>, <l4@dest.example> and 2 more")

    # BDAT: the first chunk gets the refusal; the session goes on.
    client = login(net)
    client.mail("a@acme.example")
    assert rcpt(client, "ok@dest.example")[0] == 250
    assert rcpt(client, "l6@dest.example")[0] == 250
    body = message("rejected-bdat").encode()
    client.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    code, text = client.getreply()
    assert code == 554 and text == (b"5.7.1 Error: message not sent to anyone: recipients on "
                                    b"the stop list: <l6@dest.example>")
    assert client.noop()[0] == 250
    # A clean message in the same session is sent.
    assert client.sendmail("a@acme.example", ["ok@dest.example"], message("clean")) == {}
    client.quit()
    send_marker(net)
    assert delivered_to(net, "clean") == ["ok@dest.example"]
    assert delivered_to(net, "rejected") == [] and delivered_to(net, "rejected-bdat") == []
    assert not net.receiver.rcpts("l0@dest.example")


def test_domain_entries_the_global_list_and_case(net):
    ok(net, "stoplist", "add", "@Spam.Example", "--global")
    ok(net, "stoplist", "add", "@acme-only.example", "--resource", "acme/main")
    ok(net, "stoplist", "add", "Bob@dest.example", "--global")
    for project in ("acme", "other"):
        client = login(net, project)
        client.mail(f"a@{project}.example")
        assert rcpt(client, "anyone@SPAM.example") == (
            550, b"5.7.1 <anyone@SPAM.example>: recipient is on the stop list")
        assert rcpt(client, "anyone@sub.spam.example")[0] == 250  # not its subdomains
        assert rcpt(client, "Bob@DEST.EXAMPLE")[0] == 550  # the domain in any case
        assert rcpt(client, "bob@dest.example")[0] == 250  # the local part exactly
        expected = 550 if project == "acme" else 250  # a resource's list is its own
        assert rcpt(client, "x@acme-only.example")[0] == expected, project
        client.quit()
    check = ok(net, "stoplist", "check", "x@acme-only.example", "--resource", "acme/main")
    assert check.startswith("x@acme-only.example is listed: @acme-only.example on the list of "
                            "acme/main (manual, added ")
    assert ok(net, "stoplist", "check", "x@acme-only.example", "--resource", "other/main") == \
        "x@acme-only.example is not on the global list and the list of other/main\n"


def test_changes_while_running_count_from_the_next_rcpt_and_entries_expire(net):
    client = login(net)
    client.mail("a@acme.example")
    assert rcpt(client, "late@dest.example")[0] == 250
    ok(net, "stoplist", "add", "late@dest.example", "--resource", "acme/main")
    assert rcpt(client, "late@dest.example")[0] == 550  # the same session, the next RCPT
    ok(net, "stoplist", "remove", "late@dest.example", "--resource", "acme/main")
    assert rcpt(client, "late@dest.example")[0] == 250

    ok(net, "stoplist", "add", "brief@dest.example", "--global", "--expires", "2s")
    assert rcpt(client, "brief@dest.example")[0] == 550
    listed = ok(net, "stoplist", "list", "--global")
    assert "brief@dest.example" in listed and "(expired)" not in listed
    wait_until(lambda: rcpt(client, "brief@dest.example")[0] == 250, timeout=5,
               message="the entry expired")
    assert "(expired)" in ok(net, "stoplist", "list", "--global")
    [entry] = ctl_json(net, "stoplist", "list", "--global")
    assert entry["address"] == "brief@dest.example" and entry["expired"] is True
    client.quit()


def test_a_resources_list_goes_with_it(net):
    ok(net, "stoplist", "add", "gone@dest.example", "--resource", "other/main")
    ok(net, "resource", "remove", "other/main")
    ok(net, "resource", "add", "other/main")
    assert ctl_json(net, "stoplist", "list", "--resource", "other/main") == []
    result = net.ctl("stoplist", "list", "--resource", "nobody/here", check=False)
    assert result.returncode == 1 and result.stderr == "relayctl: no resource nobody/here\n"
    result = net.ctl("stoplist", "add", "x@dest.example", check=False)
    assert result.returncode == 2 and "give --resource PROJECT/NAME or --global" in result.stderr
    result = net.ctl("stoplist", "add", "not-an-address", "--global", check=False)
    assert result.returncode == 1 and "is not an address" in result.stderr


def test_a_100k_row_csv_imports_with_bad_rows_named_and_exports_the_same_rows(net, tmp_path):
    rows = [f"user{index:06d}@d{index % 97}.example,{reason},2026-11-{1 + index % 28:02d}"
            f"T12:00:00Z,{expires}"
            for index, (reason, expires) in enumerate(
                (("hard_bounce", ""), ("complaint", "2040-01-01T00:00:00Z"),
                 ("unsubscribe", ""), ("manual", "")) * 25000)]
    rows[10] = "@whole.example,manual,2026-11-02T12:00:00Z,"
    bad = {1001: "not-an-address,manual,,", 50001: "x@y.example,bounced,,",
           99999: "x@z.example,manual,yesterday,"}
    lines = ["address,reason,added,expires"] + rows
    for line_number, text in bad.items():
        lines[line_number - 1] = text
    source = tmp_path / "in.csv"
    source.write_text("\r\n".join(lines) + "\r\n")

    started = time.monotonic()
    result = net.ctl("stoplist", "import", str(source), "--resource", "acme/main", check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert result.stdout == (f"99997 entries imported into the list of acme/main from {source}; "
                             "3 bad rows skipped\n")
    errors = result.stderr.splitlines()
    assert [line.split(":")[2] for line in errors] == ["1001", "50001", "99999"], errors
    assert "not an address" in errors[0] and "is not a reason" in errors[1]
    assert "is not a UTC time" in errors[2]
    assert elapsed < 30, elapsed

    client = login(net)
    client.mail("a@acme.example")
    assert rcpt(client, "user000004@d4.example")[0] == 550
    assert rcpt(client, "anyone@WHOLE.example")[0] == 550
    assert rcpt(client, "user000004@d5.example")[0] == 250
    client.quit()

    exported = tmp_path / "out.csv"
    assert ok(net, "stoplist", "export", str(exported), "--resource", "acme/main") == \
        f"99997 entries of the list of acme/main exported to {exported}\n"
    good = {line for index, line in enumerate(lines[1:], start=2) if index not in bad}
    out = exported.read_text().splitlines()
    assert out[0] == "address,reason,added,expires"
    assert len(out) == 1 + 99997 and set(out[1:]) == good
    # And back: the export imports into another list without a bad row.
    result = ok(net, "stoplist", "import", str(exported), "--global")
    assert result == f"99997 entries imported into the global list from {exported}; 0 bad rows " \
        "skipped\n"

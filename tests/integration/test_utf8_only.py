"""test_utf8_only.py -- only UTF-8 is accepted, and the sending recommendations, with real
clients (smtplib, swaks) against the real relayd: invalid 8-bit bytes in a header and in the
body, a windows-1251 part in a multipart message, a nested multipart, an encoded-word in koi8-r
are refused at the end of the data with a 554 5.6.0 that says what and where, and nothing is
queued; UTF-8 and ASCII messages (multipart ones too) are delivered to an aiosmtpd receiver as
sent. Six recipients and an 11 MB message are accepted, with the advice in the 250 and the log.
"""
import base64
import smtplib
import subprocess

import pytest

from delivery_support import (SENDER, message_bytes, message_id_of, network_fixture,
                              strip_prefix, wait_until)


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def send(relayd, data, recipients=("user@utf8.test",)):
    """One transaction over smtplib; returns the (code, text) of the reply to the data."""
    with smtplib.SMTP("127.0.0.1", relayd.port, timeout=60) as client:
        client.ehlo("client.test")
        code, text = client.mail(SENDER, ["BODY=8BITMIME"])
        assert code == 250, text
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            assert code == 250, text
        code, text = client.data(data)
        return code, text.decode("utf-8", "replace")


def multipart(boundary, parts, kind="mixed"):
    body = f"Content-Type: multipart/{kind}; boundary=\"{boundary}\"\r\n\r\n".encode()
    for part in parts:
        body += b"--" + boundary.encode() + b"\r\n" + part + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n"


def with_headers(top, subject="test"):
    """A message whose top-level header ends with `top` (the MIME fields), then its body."""
    header, _, body = top.partition(b"\r\n\r\n")
    return message_bytes(subject, to="user@utf8.test", extra_headers=header + b"\r\n",
                         body=body)


TEXT_UTF8 = "Content-Type: text/plain; charset=utf-8\r\n\r\nПривет, мир\r\n".encode()
TEXT_ASCII = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello, world\r\n"
TEXT_1251 = (b"Content-Type: text/plain; charset=windows-1251\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n" +
             base64.encodebytes("Привет".encode("cp1251")).replace(b"\n", b"\r\n"))


@pytest.fixture
def relayd(relayd_factory):
    return relayd_factory()


def refused(relayd, data, expected_text):
    code, text = send(relayd, data)
    assert (code, text) == (554, expected_text)
    assert relayd.queue() == {}


def test_invalid_bytes_in_a_header_are_refused_and_placed(relayd):
    data = message_bytes("caf\xe9", to="user@utf8.test").replace(b"caf\xc3\xa9", b"caf\xe9")
    assert b"caf\xe9" in data
    refused(relayd, data, "5.6.0 Error: message content is not valid UTF-8 in the header")


def test_invalid_bytes_in_the_body_of_a_part_are_refused_and_placed(relayd):
    data = with_headers(multipart("b1", [TEXT_ASCII, b"Content-Type: text/plain\r\n\r\ncaf\xe9"]))
    refused(relayd, data,
            "5.6.0 Error: message content is not valid UTF-8 in the body of part 2")
    plain = message_bytes("latin-1 body", to="user@utf8.test", body=b"caf\xe9\r\n")
    refused(relayd, plain, "5.6.0 Error: message content is not valid UTF-8 in the body")


def test_a_windows_1251_part_of_a_multipart_message_is_refused(relayd):
    data = with_headers(multipart("=_outer", [TEXT_UTF8, TEXT_1251]))
    refused(relayd, data, "5.6.0 only UTF-8 is accepted: charset windows-1251 in part 2")


def test_a_nested_multipart_names_the_nested_part(relayd):
    inner = multipart("=_inner", [TEXT_ASCII, TEXT_1251], kind="alternative")
    data = with_headers(multipart("=_outer", [inner, TEXT_UTF8]))
    refused(relayd, data, "5.6.0 only UTF-8 is accepted: charset windows-1251 in part 1.2")


def test_an_encoded_word_in_koi8_r_is_refused(relayd):
    subject = "=?koi8-r?B?" + base64.b64encode("Привет".encode("koi8-r")).decode() + "?="
    data = message_bytes(subject, to="user@utf8.test")
    refused(relayd, data, "5.6.0 only UTF-8 is accepted: charset koi8-r in the Subject header")


def test_swaks_sees_the_refusal(relayd):
    header = "Subject: =?koi8-r?Q?=F0=D2=C9=D7=C5=D4?="
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{relayd.port}", "--from", SENDER, "--to",
         "user@utf8.test", "--header", header, "--body", "hello", "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "554 5.6.0 only UTF-8 is accepted: charset koi8-r in the Subject header" in \
        result.stdout
    assert relayd.queue() == {}


def test_utf8_and_ascii_messages_are_delivered_as_sent(net):
    net.dnsmasq(mx=[("utf8.test", "mx.utf8.test", 10)], hosts=[("mx.utf8.test", "127.0.0.2")])
    receiver = net.receiver("127.0.0.2")
    relayd = net.relayd()
    subject = "=?UTF-8?B?" + base64.b64encode("Привет".encode()).decode() + "?="
    messages = [
        message_bytes("ascii", to="user@utf8.test"),
        message_bytes(subject, to="user@utf8.test", body="Привет, мир\r\n".encode()),
        with_headers(multipart("=_outer", [multipart("=_inner", [TEXT_ASCII, TEXT_UTF8],
                                                     kind="alternative"),
                                           b"Content-Type: image/png\r\n"
                                           b"Content-Transfer-Encoding: base64\r\n\r\n"
                                           b"iVBORw0KGgo=\r\n"]), subject="nested"),
    ]
    for data in messages:
        code, text = send(relayd, data)
        assert code == 250 and "note:" not in text, text
    received = {item.message_id: item for item in receiver.wait_for(len(messages))}
    for data in messages:
        _, rest = strip_prefix(received[message_id_of(data)].data, data)
        assert rest == data
    wait_until(lambda: not relayd.queue(), message="an empty queue")


def test_six_recipients_are_accepted_with_advice(relayd):
    recipients = [f"user{n}@utf8.test" for n in range(6)]
    code, text = send(relayd, message_bytes("six", to="user0@utf8.test"), recipients)
    assert code == 250
    assert text.startswith("2.0.0 Ok: queued as ")
    assert text.endswith("; note: 6 recipients, we recommend at most 5 per message"), text
    wait_until(lambda: "accepted past the sending recommendations: note: 6 recipients"
               in relayd.log(), message="the recommendation's log line")
    # Five is within the recommendation: no note.
    code, text = send(relayd, message_bytes("five", to="user0@utf8.test"), recipients[:5])
    assert code == 250 and "note" not in text, text


def test_an_11_mb_message_is_accepted_with_advice(relayd):
    line = b"x" * 76 + b"\r\n"
    data = message_bytes("large", to="user@utf8.test", body=line * (11_000_000 // len(line)))
    code, text = send(relayd, data)
    assert code == 250
    assert "; note: 11.0 MB, we recommend at most 10 MB per message" in text, text
    assert "\r" not in text and "\n" not in text
    wait_until(lambda: "accepted past the sending recommendations: note: 11.0 MB"
               in relayd.log(), message="the recommendation's log line")


def test_recommendations_follow_the_configuration(relayd_factory):
    relayd = relayd_factory(settings="""
        [recommendations]
        recipients_per_message_max = 2
        message_bytes_max = 0
        """)
    code, text = send(relayd, message_bytes("three", to="a@utf8.test"),
                      ["a@utf8.test", "b@utf8.test", "c@utf8.test"])
    assert code == 250
    assert text.endswith("; note: 3 recipients, we recommend at most 2 per message"), text

"""The admin HTTP API and /metrics against the real relayd: tokens made with relayctl; every
endpoint answers 200/201 with a valid token, 401 without one or with a bad one, 400 on a body
that is not JSON, 404 on an unknown id and 405 on a wrong method; a resource created through the
API logs in with smtplib and its mail is delivered; a stop-list entry added through the API
refuses RCPT; the statistics and /metrics (parsed by prometheus_client) count what the test
sent."""
import json
import smtplib
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, free_port
from delivery_support import delivery_settings, make_certificate, network_fixture, wait_ready
from helpers import wait_until

SETTINGS = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[admin]
listen = "127.0.0.1:{admin}"
{extra}
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\n'


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


class Admin:
    """An HTTP client of the admin API with a token."""

    def __init__(self, port, token, context=None):
        self.base = f"{'https' if context else 'http'}://127.0.0.1:{port}"
        self.token = token
        self.context = context

    def call(self, method, path, body=None, token=True, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token is True and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        elif isinstance(token, str):
            request.add_header("Authorization", token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def json(self, method, path, body=None, status=200, **options):
        code, _, text = self.call(method, path, body, **options)
        assert code == status, f"{method} {path}: {code} {text}"
        return json.loads(text)


def start(net, extra="", listener="", tls=None):
    receiver = net.receiver("127.0.0.2", rcpt_script={"later@example.net": ["451 4.3.0 later"]})
    route = f"127.0.0.2:{net.port}"
    admin_port = free_port()
    settings = delivery_settings(None, net.port, retry="[3600]",
                                 routes=[("example.net", route)])
    settings += SETTINGS.format(admin=admin_port, extra=extra)
    relayd = net.factory(settings=settings, listener=AUTH_LISTENER + listener, start=False)
    token = json.loads(relayd.ctl("admin-token", "add", "ops", "--json").stdout)["token"]
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver, Admin(admin_port, token, tls)


def login(relayd, username, password):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo("client.test")
    client.login(username, password)
    return client


def message(sender, to):
    return f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: s\r\n\r\nHi.\r\n".encode()


def test_tokens_are_needed_shown_once_and_removable(net):
    relayd, _, api = start(net)
    for path in ("/api/v1/projects", "/metrics"):
        code, headers, text = api.call("GET", path, token=False)
        assert code == 401 and "error" in json.loads(text)
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert api.call("GET", path, token="Bearer rlyadm_" + "0" * 64)[0] == 401
        assert api.call("GET", path, token="Basic b3BzOm9wcw==")[0] == 401
        assert api.call("GET", path)[0] == 200
    # The store keeps names, never tokens.
    listed = json.loads(relayd.ctl("admin-token", "list", "--json").stdout)
    assert [entry["name"] for entry in listed] == ["ops"]
    assert api.token not in relayd.ctl("admin-token", "list").stdout
    assert relayd.ctl("token", "add", "ops", check=False).returncode == 1  # the name is taken
    relayd.ctl("admin-token", "remove", "ops")
    assert api.call("GET", "/api/v1/projects")[0] == 401
    assert relayd.ctl("admin-token", "remove", "ops", check=False).returncode == 1


def test_errors_are_json_400_404_405(net):
    _, _, api = start(net)
    code, _, text = api.call("POST", "/api/v1/projects", raw=b"{not json")
    assert code == 400 and "JSON" in json.loads(text)["error"]
    assert api.call("POST", "/api/v1/projects", raw=b"[1, 2]")[0] == 400
    assert api.call("POST", "/api/v1/projects", {"name": 7})[0] == 400
    assert api.call("POST", "/api/v1/projects", {"name": "bad name!"})[0] == 400
    for path in ("/api/v1/projects/nope", "/api/v1/resources/nope/main",
                 "/api/v1/queue/0123456789abcdef", "/api/v1/dkim-keys/nope.example/s1",
                 "/api/v1/stop-list/a@nope.example", "/api/v1/nothing"):
        code, _, text = api.call("GET", path)
        assert code == 404, path
        assert "error" in json.loads(text)
    code, headers, _ = api.call("PUT", "/api/v1/projects")
    assert code == 405 and headers["Allow"] == "GET, POST"
    assert api.call("DELETE", "/api/v1/stats")[0] == 405
    assert api.call("GET", "/api/v1/projects?limit=0")[0] == 400


def test_tenants_through_the_api_send_mail(net):
    relayd, receiver, api = start(net)
    project = api.json("POST", "/api/v1/projects", {"name": "acme", "resources_max": 2},
                       status=201)
    assert project == {"name": "acme", "resources": 0, "resources_max": 2, "domains_max": 3,
                       "networks": []}
    assert api.json("POST", "/api/v1/projects", {"name": "acme"}, status=409)
    api.json("POST", "/api/v1/projects", {"name": "zeta"}, status=201)
    page = api.json("GET", "/api/v1/projects?limit=1&offset=1")
    assert page["total"] == 2 and [p["name"] for p in page["items"]] == ["zeta"]
    changed = api.json("PATCH", "/api/v1/projects/acme", {"domains_max": 5})
    assert changed["domains_max"] == 5 and changed["resources_max"] == 2

    created = api.json("POST", "/api/v1/resources", {"project": "acme", "name": "main"},
                       status=201)
    assert created["username"] == "acme/main" and len(created["password"]) >= 16
    added = api.json("POST", "/api/v1/resources/acme/main/domains", {"domain": "Acme.Example"},
                     status=201)
    assert added == {"added": "acme.example", "resource": "acme/main"}
    domains = api.json("GET", "/api/v1/resources/acme/main/domains")
    assert [d["domain"] for d in domains["items"]] == ["acme.example"]
    resource = api.json("PUT", "/api/v1/resources/acme/main/limit",
                        {"messages": 50, "window_s": 60})
    assert (resource["rate_messages"], resource["rate_window_s"]) == (50, 60)
    assert api.json("PUT", "/api/v1/resources/acme/main/policy",
                    {"stop_policy": "reject_message"})["stop_policy"] == "reject_message"
    assert api.call("PUT", "/api/v1/resources/acme/main/policy", {"stop_policy": "x"})[0] == 400
    assert api.json("PUT", "/api/v1/resources/acme/main/return-path",
                    {"address": "bounce@acme.example"})["return_path"] == "bounce@acme.example"
    assert api.json("DELETE", "/api/v1/resources/acme/main/return-path")["return_path"] is None
    listed = api.json("GET", "/api/v1/resources?project=acme")
    assert [r["username"] for r in listed["items"]] == ["acme/main"]
    assert api.json("GET", "/api/v1/resources/acme/main")["domains"] == ["acme.example"]
    # relayctl sees what the API wrote: one store.
    assert "acme/main" in relayd.ctl("resource", "list", "acme").stdout

    # The new login sends once relayd's snapshot has the resource.
    def sends():
        try:
            client = login(relayd, "acme/main", created["password"])
        except smtplib.SMTPAuthenticationError:
            return False
        client.sendmail("ann@acme.example", ["ok@example.net"],
                        message("ann@acme.example", "ok@example.net"))
        client.quit()
        return True
    wait_until(sends, timeout=10, message="the API's resource to log in")
    receiver.wait_for(1)

    # A new password: the old one stops working, the new one logs in.
    renewed = api.json("POST", "/api/v1/resources/acme/main/password")
    assert renewed["password"] != created["password"]
    wait_until(lambda: _login_fails(relayd, "acme/main", created["password"]), timeout=10,
               message="the old password to be refused")
    login(relayd, "acme/main", renewed["password"]).quit()

    assert api.json("DELETE", "/api/v1/resources/acme/main/domains/acme.example")[
        "removed"] == "acme.example"
    assert api.json("DELETE", "/api/v1/resources/acme/main") == {"removed": "acme/main",
                                                                "domains": 0}
    assert api.call("GET", "/api/v1/resources/acme/main")[0] == 404
    assert api.json("DELETE", "/api/v1/projects/acme")["removed"] == "acme"
    assert api.call("DELETE", "/api/v1/projects/acme")[0] == 404


def _login_fails(relayd, username, password):
    try:
        login(relayd, username, password).quit()
        return False
    except smtplib.SMTPAuthenticationError:
        return True


def make_tenant(api):
    api.json("POST", "/api/v1/projects", {"name": "acme"}, status=201)
    created = api.json("POST", "/api/v1/resources", {"project": "acme", "name": "main"},
                       status=201)
    api.json("POST", "/api/v1/resources/acme/main/domains", {"domain": "acme.example"},
             status=201)
    return created["password"]


def test_dkim_keys_generated_imported_listed_removed(net, tmp_path):
    relayd, _, api = start(net)
    make_tenant(api)
    key = api.json("POST", "/api/v1/dkim-keys",
                   {"domain": "acme.example", "selector": "s1", "algorithm": "ed25519"},
                   status=201)
    assert key["algorithm"] == "ed25519-sha256" and key["bits"] == 256
    assert key["dns_record"].startswith("s1._domainkey.acme.example")
    assert "k=ed25519" in key["dns_record"] and "private" not in json.dumps(key).lower()
    assert api.json("POST", "/api/v1/dkim-keys", {"domain": "acme.example", "selector": "s1",
                                                  "algorithm": "ed25519"}, status=409)
    assert api.call("POST", "/api/v1/dkim-keys", {"domain": "acme.example", "selector": "s2",
                                                  "algorithm": "dsa"})[0] == 400
    # Import: a key made with the openssl CLI.
    pem_path = tmp_path / "imported.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(pem_path)],
                   check=True, capture_output=True)
    imported = api.json("POST", "/api/v1/dkim-keys",
                        {"domain": "acme.example", "selector": "s2",
                         "private_key_pem": pem_path.read_text()}, status=201)
    assert imported["algorithm"] == "ed25519-sha256"
    assert api.call("POST", "/api/v1/dkim-keys", {"domain": "acme.example", "selector": "s3",
                                                  "private_key_pem": "junk"})[0] == 400
    listed = api.json("GET", "/api/v1/dkim-keys?domain=acme.example")
    assert [k["selector"] for k in listed["items"]] == ["s1", "s2"]
    assert api.json("GET", "/api/v1/dkim-keys/acme.example/s2")["dns_record"] == imported[
        "dns_record"]
    assert "s2" in relayd.ctl("dkim", "list", "acme.example").stdout
    api.json("DELETE", "/api/v1/dkim-keys/acme.example/s2")
    assert api.call("DELETE", "/api/v1/dkim-keys/acme.example/s2")[0] == 404


def test_stop_list_entry_added_through_the_api_refuses_rcpt(net):
    relayd, _, api = start(net)
    password = make_tenant(api)
    entry = api.json("POST", "/api/v1/stop-list",
                     {"address": "blocked@example.net", "resource": "acme/main",
                      "reason": "complaint"}, status=201)
    assert entry["scope"] == "acme/main" and entry["reason"] == "complaint"
    for index in range(5):
        api.json("POST", "/api/v1/stop-list", {"address": f"user{index}@other.example",
                                               "expires_in_s": 3600}, status=201)
    page = api.json("GET", "/api/v1/stop-list?prefix=user&limit=2&offset=1")
    assert page["total"] == 5 and [e["address"] for e in page["items"]] == [
        "user1@other.example", "user2@other.example"]
    assert api.json("GET", "/api/v1/stop-list?search=USER4")["total"] == 1
    check = api.json("GET", "/api/v1/stop-list/check?address=blocked@example.net"
                     "&resource=acme/main")
    assert check["listed"] and check["entry"]["reason"] == "complaint"
    assert not api.json("GET", "/api/v1/stop-list/check?address=blocked@example.net")["listed"]
    assert api.json("GET", "/api/v1/stop-list/blocked@example.net?resource=acme/main")[
        "address"] == "blocked@example.net"
    assert api.call("GET", "/api/v1/stop-list?resource=acme/none")[0] == 404

    def refused():
        try:
            client = login(relayd, "acme/main", password)
        except smtplib.SMTPAuthenticationError:
            return False
        client.mail("ann@acme.example")
        code = client.rcpt("blocked@example.net")[0]
        client.quit()
        return code == 550
    wait_until(refused, timeout=10, message="RCPT of the stop-listed address to be refused")
    api.json("DELETE", "/api/v1/stop-list/blocked@example.net?resource=acme/main")
    assert api.call("DELETE", "/api/v1/stop-list/blocked@example.net?resource=acme/main")[0] == 404
    client = login(relayd, "acme/main", password)
    client.mail("ann@acme.example")
    assert client.rcpt("blocked@example.net")[0] == 250
    client.quit()


def send_scenario(relayd, receiver, password):
    """Two delivered, one deferred (451), one refused at RCPT (stop list)."""
    client = login(relayd, "acme/main", password)
    for to in ("ok@example.net", "ok2@example.net", "later@example.net"):
        client.sendmail("ann@acme.example", [to], message("ann@acme.example", to))
    client.mail("ann@acme.example")
    assert client.rcpt("blocked@example.net")[0] == 550
    client.quit()
    receiver.wait_for(2)


def test_queue_stats_and_metrics_count_what_was_sent(net):
    relayd, receiver, api = start(net)
    password = make_tenant(api)
    api.json("POST", "/api/v1/stop-list",
             {"address": "blocked@example.net", "resource": "acme/main"}, status=201)
    wait_until(lambda: not _login_fails(relayd, "acme/main", password), timeout=10,
               message="the resource to log in")
    send_scenario(relayd, receiver, password)

    # The deferred message waits in the queue.
    wait_until(lambda: api.json("GET", "/api/v1/queue")["total"] == 1, timeout=10,
               message="one queued message")
    [queued] = api.json("GET", "/api/v1/queue?resource=acme/main")["items"]
    shown = api.json("GET", f"/api/v1/queue/{queued['id']}")
    assert shown["recipients"][0]["address"] == "later@example.net"
    assert api.json("GET", "/api/v1/queue?domain=nowhere.example")["total"] == 0
    [row] = api.json("GET", "/api/v1/queue/summary")
    assert row["destination"] == "example.net" and row["messages"] == 1

    expected = {"accepted": 3, "delivered": 2, "deferred": 1, "refused_stop_list": 1}
    def counted():
        [column] = api.json("GET", "/api/v1/stats?resource=acme/main")["columns"]
        return all(column["counts"][name] == value for name, value in expected.items())
    wait_until(counted, timeout=10, message=f"stats {expected}")
    sums = api.json("GET", "/api/v1/stats?since=1h")
    assert sums["total"]["accepted"] == 3
    ctl = json.loads(relayd.ctl("stats", "--resource", "acme/main", "--json").stdout)
    assert ctl["columns"] == api.json("GET", "/api/v1/stats?resource=acme/main")["columns"]
    series = api.json("GET", "/api/v1/stats/series?resource=acme/main&grain=minute&since=90m")
    assert series["grain_s"] == 60 and len(series["time"]) in (91, 92)
    assert all(len(values) == len(series["time"]) for values in series["series"].values())
    assert sum(series["series"]["accepted"]) == 3
    assert sum(series["series"]["refused"]) == 1
    hours = api.json("GET", "/api/v1/stats/series?grain=hour&since=30d")
    assert hours["grain_s"] == 3600 and sum(hours["series"]["delivered"]) == 2
    assert api.call("GET", "/api/v1/stats/series?grain=minute&since=30d")[0] == 400
    assert api.call("GET", "/api/v1/stats?since=forever")[0] == 400

    code, headers, text = api.call("GET", "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    def sample(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]
    assert sample("relay_accepted_messages_total", resource="acme/main") == 3
    assert sample("relay_delivered_recipients_total", resource="acme/main") == 2
    assert sample("relay_deferred_recipients_total", resource="acme/main") == 1
    assert sample("relay_refused_total", resource="acme/main", reason="stop_list") == 1
    assert sample("relay_refused_total", resource="acme/main", reason="rate_limit") == 0
    assert sample("relay_bounced_recipients_total", resource="acme/main", kind="hard") == 0
    assert sample("relay_delivery_latency_seconds_count") == 2
    assert sample("relay_delivery_latency_seconds_bucket", le="+Inf") == 2
    assert 0 < sample("relay_delivery_latency_seconds_sum") < 60
    # The receiver offers no STARTTLS: both deliveries were in plaintext.
    assert sample("relay_outbound_delivered_recipients_total", tls="none") == 2
    assert sample("relay_outbound_delivered_recipients_total", tls="TLSv1.3") == 0
    assert sample("relay_inbound_tls_handshakes_total", version="TLSv1.3") == 0
    assert sample("relay_queue_messages") == 1
    assert sample("relay_queue_oldest_message_age_seconds") >= 0

    # Retry, bounce, delete by id; an unknown id is 404.
    assert api.json("POST", f"/api/v1/queue/{queued['id']}/retry")["messages"] == 1
    assert api.json("POST", "/api/v1/queue/retry", {"domain": "example.net"})["messages"] == 1
    assert api.call("POST", "/api/v1/queue/retry", {})[0] == 400
    assert api.json("POST", f"/api/v1/queue/{queued['id']}/bounce")["messages"] == 1
    wait_until(lambda: api.json("GET", "/api/v1/queue")["total"] == 0, timeout=10,
               message="the bounced message to leave the queue")
    assert api.call("DELETE", f"/api/v1/queue/{queued['id']}")[0] == 404
    assert api.call("POST", "/api/v1/queue/0123456789abcdef/retry")[0] == 404


def test_metrics_alone_without_a_token_on_their_own_address(net):
    metrics_port = free_port()
    _, _, api = start(net, extra=f'metrics_listen = "127.0.0.1:{metrics_port}"')
    plain = Admin(metrics_port, None)
    code, _, text = plain.call("GET", "/metrics", token=False)
    assert code == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "relay_queue_messages" in names
    assert plain.call("GET", "/api/v1/projects", token=False)[0] == 404
    assert api.call("GET", "/metrics", token=False)[0] == 401


def test_https_admin_next_to_starttls_smtp_in_one_relayd(net, tmp_path):
    """The admin API's TLS is OpenSSL's (cpp-httplib), SMTP's wolfSSL's: both in one process."""
    cert, key = make_certificate(tmp_path, "relay.test")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the chain is verified; the URL names 127.0.0.1
    tls_files = f'certificate_chain_file = "{cert}"\nprivate_key_file = "{key}"\n'
    relayd, receiver, api = start(net, extra=tls_files + "[tls]\n" + tls_files,
                                  listener='tls = "starttls"\n', tls=context)
    password = make_tenant(api)
    plain = Admin(api.base.rsplit(":", 1)[1], api.token)
    with pytest.raises(Exception):
        plain.call("GET", "/api/v1/projects")  # plain HTTP on the HTTPS port

    def sends():
        client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
        client.starttls(context=context)
        try:
            client.login("acme/main", password)
        except smtplib.SMTPAuthenticationError:
            client.quit()
            return False
        client.sendmail("ann@acme.example", ["ok@example.net"],
                        message("ann@acme.example", "ok@example.net"))
        client.quit()
        return True
    wait_until(sends, timeout=10, message="a login over STARTTLS")
    receiver.wait_for(1)
    wait_until(lambda: api.json("GET", "/api/v1/stats?resource=acme/main")["columns"][0][
        "counts"]["delivered"] == 1, timeout=10, message="the delivery counted")
    code, _, text = api.call("GET", "/metrics")
    assert code == 200
    handshakes = {sample.labels["version"]: sample.value
                  for family in text_string_to_metric_families(text)
                  for sample in family.samples
                  if sample.name == "relay_inbound_tls_handshakes_total"}
    # Python's client and wolfSSL agree on TLS 1.3; sends() may have logged in more than once.
    assert handshakes["TLSv1.3"] >= 1 and handshakes["TLSv1.2"] == 0


def test_the_openapi_description_names_every_route_and_method(net):
    """docs/admin-api.yaml and the router agree: each documented method of each path is routed
    (whatever its answer for made-up names), every other method of it gets 405."""
    spec = yaml.safe_load((REPO / "docs" / "admin-api.yaml").read_text())
    _, _, api = start(net)
    names = {"project": "nope", "name": "x", "domain": "nope.example", "selector": "s",
             "address": "a@nope.example", "id": "0123456789abcdef"}
    methods = {"get", "post", "put", "patch", "delete"}
    assert len(spec["paths"]) >= 20
    for template, operations in spec["paths"].items():
        path = template.format(**names)
        documented = methods & set(operations)
        assert documented, template
        for method in sorted(methods):
            code, headers, text = api.call(method.upper(), path,
                                           {} if method in ("post", "put", "patch") else None)
            if method in documented:
                assert code != 405, (method, template, text)
                assert code < 500 or code == 503, (method, template, code, text)
                if code == 404:
                    assert "no such path" not in text, (method, template, text)
            else:
                assert code == 405, (method, template, code, text)

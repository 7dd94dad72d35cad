"""The dashboard page in a real browser: relayd with its admin plane and a receiving sink gets a
scenario (two recipients delivered, one refused by the destination for good, one deferred, one
refused at RCPT for the stop list); Debian's chromium, driven by playwright-core from npm
(dashboard/drive.js here), logs in with an admin token made by relayctl, reads the counts the
page shows for the resource, removes an address from the stop list with the page's button, and
saves a screenshot to the build folder. The API then confirms the address is gone. The static
files' headers (CSP, types, no token needed, 404 for anything else) are checked with plain HTTP."""
import json
import shutil
import smtplib
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, REPO, free_port
from delivery_support import delivery_settings, network_fixture, wait_ready
from helpers import wait_until
from test_admin_api import AUTH_LISTENER, Admin, login, message

DRIVER = REPO / "tests/integration/dashboard"
SETTINGS = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1

[admin]
listen = "127.0.0.1:{admin}"
dashboard_dir = "{dashboard}"
# A browser keeps up to 6 connections open, each holding a reading thread while it idles.
threads = 8
"""

@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


@pytest.fixture(scope="module")
def playwright_core():
    """playwright-core from npm, pinned by dashboard/package-lock.json here, installed once into
    the build folder (again only when the lock file changes)."""
    folder = BUILD / "dashboard-test"
    lock = DRIVER / "package-lock.json"
    installed = folder / "installed-lock.json"
    if not installed.exists() or installed.read_bytes() != lock.read_bytes():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(DRIVER / name, folder / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                        "--loglevel=error"], cwd=folder, check=True, timeout=300)
        shutil.copy(lock, installed)
    return folder / "node_modules/playwright-core"


def start(net):
    receiver = net.receiver("127.0.0.2", rcpt_script={
        "later@example.net": ["451 4.3.0 try later"],
        "gone@example.net": ["550 5.1.1 no such user here"]})
    admin_port = free_port()
    settings = delivery_settings(None, net.port, retry="[3600]",
                                 routes=[("example.net", f"127.0.0.2:{net.port}")])
    settings += SETTINGS.format(admin=admin_port, dashboard=BUILD / "dashboard")
    relayd = net.factory(settings=settings, listener=AUTH_LISTENER, start=False)
    token = json.loads(relayd.ctl("admin-token", "add", "ops", "--json").stdout)["token"]
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver, Admin(admin_port, token)


def make_resource(api, project):
    api.json("POST", "/api/v1/projects", {"name": project}, status=201)
    created = api.json("POST", "/api/v1/resources", {"project": project, "name": "main"},
                       status=201)
    api.json("POST", f"/api/v1/resources/{project}/main/domains",
             {"domain": f"{project}.example"}, status=201)
    return created["password"]


def send_scenario(relayd, receiver, password):
    """4 accepted: 2 delivered, 1 bounced (550), 1 deferred (451); 1 refused at RCPT."""
    def logged_in():
        try:
            return login(relayd, "acme/main", password)
        except smtplib.SMTPAuthenticationError:  # not in relayd's snapshot yet
            return None
    client = wait_until(logged_in, timeout=10, message="acme/main to log in")
    for to in ("ok1@example.net", "ok2@example.net", "gone@example.net", "later@example.net"):
        client.sendmail("ann@acme.example", [to], message("ann@acme.example", to))
    client.mail("ann@acme.example")
    assert client.rcpt("blocked@example.net")[0] == 550
    client.quit()
    receiver.wait_for(2)


def test_static_files_carry_their_type_and_policy_and_nothing_else_is_served(net):
    _, _, api = start(net)
    for path, kind in (("/dashboard/", "text/html"), ("/dashboard/dashboard.js", "text/javascript"),
                       ("/dashboard/uPlot.iife.min.js", "text/javascript"),
                       ("/dashboard/uPlot.min.css", "text/css")):
        code, headers, body = api.call("GET", path, token=False)
        assert code == 200 and headers["Content-Type"].startswith(kind), (path, code, headers)
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-cache"
        assert body == (BUILD / "dashboard" / (path.rsplit("/", 1)[1] or "index.html")).read_text()
    for path in ("/dashboard/../config.toml", "/dashboard/%2e%2e/relayd.toml",
                 "/dashboard/package.json", "/dashboard/uPlot.LICENSE", "/dashboard/x/index.html"):
        code, headers, _ = api.call("GET", path, token=False)
        assert code == 404, path
    request = urllib.request.Request(api.base + "/dashboard", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=10)
    assert redirect.value.code == 308 and redirect.value.headers["Location"] == "/dashboard/"
    assert api.call("POST", "/dashboard/", token=False)[0] == 405
    # The data stays behind the token.
    assert api.call("GET", "/api/v1/stats", token=False)[0] == 401


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_the_page_shows_the_scenario_and_removes_a_stop_list_entry(net, playwright_core):
    relayd, receiver, api = start(net)
    password = make_resource(api, "acme")
    make_resource(api, "zeta")
    for address in ("blocked@example.net", "spam-trap@example.org", "old@example.org"):
        api.json("POST", "/api/v1/stop-list", {"address": address, "resource": "acme/main"},
                 status=201)
    send_scenario(relayd, receiver, password)
    expected = {"accepted": 4, "delivered": 2, "bounced": 1, "deferred": 1, "refused": 1}

    def counted():
        [column] = api.json("GET", "/api/v1/stats?resource=acme/main")["columns"]
        counts = column["counts"]
        return (counts["accepted"], counts["delivered"],
                counts["bounced_hard"] + counts["bounced_soft"], counts["deferred"],
                counts["refused_stop_list"]) == tuple(expected.values()) and counts[
                    "bounce_reasons"] == {"no_such_user": 1}
    wait_until(counted, timeout=15, message=f"the API to count {expected}")
    metrics = api.call("GET", "/metrics")[2]
    assert 'relay_bounces_total{resource="acme/main",reason="no_such_user"} 1\n' in metrics
    listed = [entry["address"] for entry in
              api.json("GET", "/api/v1/stop-list?resource=acme/main")["items"]]

    screenshot = BUILD / "dashboard-test" / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    run = subprocess.run(
        ["node", str(DRIVER / "drive.js"), str(playwright_core), f"{api.base}/dashboard/",
         api.token, "zeta/main", "acme/main", "example.org", "spam-trap@example.org",
         str(screenshot)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    print(f"dashboard screenshot: {screenshot}")

    assert seen["problems"] == [], seen["problems"]  # no script error, no CSP refusal
    assert seen["loginShown"] and seen["tokenStored"] == api.token
    assert "default-src 'self'" in seen["headers"]["content-security-policy"]
    assert seen["resources"] == ["acme/main", "zeta/main"]
    # Last hour, last day, last 30 days: the scenario just happened, so all three hold it.
    assert seen["totals"] == {name: [value] * 3 for name, value in expected.items()}, seen
    assert seen["emptyTotals"] == {name: [0, 0, 0] for name in expected}, seen
    # The 550 5.1.1 of gone@example.net, classified, in each of the three periods.
    assert seen["bounceReasons"] == [["no_such_user", "1", "1", "1"]], seen
    assert seen["emptyBounceReasons"] == [["no bounces"]], seen
    assert seen["charts"] == 3
    [queued] = seen["queue"]  # the deferred message waits for example.net
    assert queued[0] == "example.net" and queued[1] == "1" and "451" in queued[3]
    assert sorted(seen["stopListBefore"]) == sorted(listed)
    assert seen["stopListSearched"] == ["old@example.org", "spam-trap@example.org"]
    assert "spam-trap@example.org" not in seen["stopListAfter"]
    assert sorted(seen["stopListAfter"]) == sorted(set(listed) - {"spam-trap@example.org"})
    assert seen["status"] == ""
    # The API agrees: removed from acme/main's list, the others kept.
    assert api.call("GET", "/api/v1/stop-list/spam-trap@example.org?resource=acme/main")[0] == 404
    assert api.json("GET", "/api/v1/stop-list/old@example.org?resource=acme/main")[
        "address"] == "old@example.org"
    assert screenshot.stat().st_size > 10_000

"""Notifications from a real server to real receivers: SMTP mail into Debian's aiosmtpd, alerts
into Debian's Prometheus Alertmanager (both started by scripts/test-services.sh), and an HTTP
receiver in this test for the webhook, Slack, PagerDuty and Twilio-shaped SMS requests (those
services are on the internet, which CI cannot reach; the receiver checks what a real one would
be sent). Escalation, acknowledgement, resolution, the dead-letter list and retry, a kill -9 in
the middle of a page, the policy over the API, and WebSocket subscription filters."""

import base64
import email
import email.policy
import http.server
import json
import os
import threading
import time
import urllib.parse
import urllib.request

import aqw

SMS_TOKEN = "tok-s3cret-value"


class Receiver:
    """An HTTP server that records every request and answers by path: /fail* with 500, the SMS
    path with 201, /pd with 202, anything else with 200."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body.decode()})
                status = 200
                if self.path.startswith("/fail"):
                    status = 500
                elif self.path.endswith("/Messages.json"):
                    status = 201
                elif self.path == "/pd":
                    status = 202
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def to(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.server.shutdown()


def services():
    env = {k: os.environ.get("AQUAWATCH_TEST_" + k) for k in
           ("SMTP_PORT", "MAILDIR", "ALERTMANAGER_PORT")}
    missing = [k for k, v in env.items() if not v]
    assert not missing, ("AQUAWATCH_TEST_%s is not set: run the tests through `make test` "
                         "(scripts/test-services.sh starts aiosmtpd and Alertmanager)" % missing)
    return env


def start_server(binary, receiver, policy, extra=()):
    env = services()
    s = aqw.Server(binary, extra=[
        "--alerts-resolve-hold", "0",
        "--notify-public-url", "http://aquawatch.example",
        "--notify-sms-base-url", receiver.url("/sms"),
        "--notify-sms-account-sid", "AC123",
        "--notify-sms-auth-token", SMS_TOKEN,
        "--notify-sms-from", "+15550199",
        "--notify-email-url", "smtp://127.0.0.1:%s" % env["SMTP_PORT"],
        "--notify-email-from", "aquawatch@utility.example",
        "--notify-retry-max-attempts", "2",
        "--notify-retry-initial-backoff", "100ms",
    ] + list(extra))
    path = os.path.join(s.data_dir, "policy.json")
    with open(path, "w") as f:
        json.dump(policy, f)
    s.extra += ["--notify-policy-file", path]
    return s.start()


def chlorine(s, sensor, value, zone="z1"):
    status, body = s.post_json("/api/v1/readings", [
        {"sensor": sensor, "zone": zone, "site": "plant-1",
         "values": {"free_chlorine_mg_l": value}}])
    assert status == 200, body


def open_alert_of(s, sensor):
    return aqw.wait_for(lambda: next(iter(s.get_json(
        "/api/v1/alerts?state=unresolved&sensor=%s" % sensor)["alerts"]), None),
        what="an alert on " + sensor)


def notifications(s, query):
    return s.get_json("/api/v1/notifications?" + query)["notifications"]


def mails_to(address):
    maildir = os.path.join(services()["MAILDIR"], "new")
    out = []
    for name in sorted(os.listdir(maildir)) if os.path.isdir(maildir) else []:
        with open(os.path.join(maildir, name), "rb") as f:
            m = email.message_from_binary_file(f, policy=email.policy.default)
        if address in str(m["To"]):
            out.append(m)
    return out


def alertmanager_alerts():
    port = services()["ALERTMANAGER_PORT"]
    with urllib.request.urlopen("http://127.0.0.1:%s/api/v2/alerts" % port, timeout=10) as r:
        return json.loads(r.read())


def everything_policy(receiver):
    am = "http://127.0.0.1:%s" % services()["ALERTMANAGER_PORT"]
    return {
        "receivers": [
            {"name": "operator", "targets": [
                {"channel": "sms", "to": "+15550100"},
                {"channel": "email", "to": "operator@utility.example"},
                {"channel": "webhook", "url": receiver.url("/hook")},
                {"channel": "slack", "url": receiver.url("/slack")},
                {"channel": "alertmanager", "url": am}]},
            {"name": "supervisor", "targets": [
                {"channel": "pagerduty", "url": receiver.url("/pd"), "routing_key": "PDKEY1"}]},
        ],
        "policies": [{"name": "contamination",
                      "stages": [{"after": "0s", "receivers": ["operator"]},
                                 {"after": "2s", "receivers": ["supervisor"]}]}],
        "routes": [{"match": {"priority": ["high"]}, "policy": "contamination"}],
    }


def test_a_contamination_alert_reaches_every_channel_and_escalates(binary):
    receiver = Receiver()
    s = start_server(binary, receiver, everything_policy(receiver))
    try:
        chlorine(s, "nc-1", 0.05)
        alert = open_alert_of(s, "nc-1")
        aid = alert["id"]
        link = "http://aquawatch.example/api/v1/alerts/%d" % aid

        hook = aqw.wait_for(lambda: receiver.to("/hook"), what="the webhook")[0]
        doc = json.loads(hook["body"])
        assert hook["headers"]["Content-Type"].startswith("application/json")
        assert doc["event"] == "firing" and doc["alert"]["id"] == aid and doc["link"] == link

        slack = json.loads(aqw.wait_for(lambda: receiver.to("/slack"), what="slack")[0]["body"])
        assert "nc-1" in slack["text"] and slack["attachments"][0]["title_link"] == link

        sms = aqw.wait_for(lambda: receiver.to("/sms/2010-04-01/Accounts/AC123/Messages.json"),
                           what="the SMS")[0]
        form = urllib.parse.parse_qs(sms["body"])
        assert form["To"] == ["+15550100"] and form["From"] == ["+15550199"], form
        assert link in form["Body"][0] and len(form["Body"][0]) <= 320, form
        auth = sms["headers"]["Authorization"]
        assert base64.b64decode(auth.split()[1]).decode() == "AC123:" + SMS_TOKEN

        mail = aqw.wait_for(lambda: mails_to("operator@utility.example"), what="the email")[0]
        assert "HIGH" in mail["Subject"] and "nc-1" in mail["Subject"], mail["Subject"]
        parts = {p.get_content_type(): p.get_content() for p in mail.walk()
                 if not p.is_multipart()}
        assert set(parts) == {"text/plain", "text/html"}, parts.keys()
        assert link in parts["text/plain"] and link in parts["text/html"]
        assert "free_chlorine_mg_l" in parts["text/plain"]

        am = aqw.wait_for(lambda: [a for a in alertmanager_alerts()
                                   if a["labels"].get("aquawatch_id") == str(aid)],
                          what="the alert in Alertmanager")[0]
        assert am["labels"]["alertname"] == "aquawatch_threshold", am["labels"]
        assert am["labels"]["sensor"] == "nc-1" and am["labels"]["severity"] == "critical"

        # Nobody acknowledged within 2 s: the supervisor is paged.
        pd = json.loads(aqw.wait_for(lambda: receiver.to("/pd"), what="PagerDuty")[0]["body"])
        assert pd["event_action"] == "trigger" and pd["routing_key"] == "PDKEY1"
        assert pd["dedup_key"] == "aquawatch-alert-%d" % aid
        assert pd["payload"]["severity"] == "critical"

        records = notifications(s, "alert=%d" % aid)
        assert sorted(r["channel"] for r in records) == sorted(
            ["sms", "email", "webhook", "slack", "alertmanager", "pagerduty"]), records
        assert all(r["state"] == "delivered" and r["attempts"] == 1 for r in records), records
        one = s.get_json("/api/v1/notifications/%d" % records[0]["id"])
        assert one["attempts"][0]["ok"] is True and one["attempts"][0]["status"] in (200, 201, 202, 250)
        aqw.wait_for(lambda: s.metric("aquawatch_notifications_delivered_total") >= 6,
                     what="six deliveries counted")
        # The receiver sees the request before the server has counted its answer.
        aqw.wait_for(lambda: s.metric("aquawatch_notification_latency_seconds_count",
                                      'channel="webhook",priority="high"') == 1,
                     what="the delivery latency to be counted")

        # Resolution by hand: every receiver told hears of it; Alertmanager's alert ends.
        status, body = s.post_json("/api/v1/alerts/%d/resolve" % aid, {"by": "alice"})
        assert status == 200, body
        aqw.wait_for(lambda: any(json.loads(r["body"])["event_action"] == "resolve"
                                 for r in receiver.to("/pd")), what="PagerDuty resolve")
        aqw.wait_for(lambda: any(json.loads(r["body"])["event"] == "resolved"
                                 for r in receiver.to("/hook")), what="webhook resolved")
        aqw.wait_for(lambda: not [a for a in alertmanager_alerts()
                                  if a["labels"].get("aquawatch_id") == str(aid)],
                     what="the alert to end in Alertmanager")
        aqw.wait_for(lambda: len(mails_to("operator@utility.example")) == 2, what="resolved mail")
        assert SMS_TOKEN not in s.log_text() and "PDKEY1" not in s.log_text()
    finally:
        s.cleanup()
        receiver.close()


def test_acknowledging_stops_the_repeats_and_the_escalation(binary):
    receiver = Receiver()
    policy = {
        "receivers": [{"name": "op", "targets": [{"channel": "webhook", "url": receiver.url("/op")}]},
                      {"name": "sup", "targets": [{"channel": "webhook", "url": receiver.url("/sup")}]}],
        "policies": [{"name": "p", "repeat_every": "1s",
                      "stages": [{"after": "0s", "receivers": ["op"]},
                                 {"after": "4s", "receivers": ["sup"]}]}],
        "routes": [{"policy": "p"}],
    }
    s = start_server(binary, receiver, policy)
    try:
        chlorine(s, "ack-1", 0.05)
        alert = open_alert_of(s, "ack-1")
        aqw.wait_for(lambda: len(receiver.to("/op")) >= 2, what="a repeat")
        status, body = s.post_json("/api/v1/alerts/%d/ack" % alert["id"], {"by": "alice"})
        assert status == 200, body
        time.sleep(0.5)
        told = len(receiver.to("/op"))
        time.sleep(5)
        assert len(receiver.to("/op")) == told, "repeats go on after the acknowledgement"
        assert receiver.to("/sup") == [], "the supervisor was paged after the acknowledgement"
        repeats = [r for r in notifications(s, "alert=%d" % alert["id"]) if r["repeat"] > 0]
        assert repeats, "the repeats are recorded"
    finally:
        s.cleanup()
        receiver.close()


def test_dead_letters_retry_and_a_kill9_in_the_middle_of_a_page(binary):
    receiver = Receiver()
    policy = {
        "receivers": [{"name": "broken", "targets": [{"channel": "webhook", "url": receiver.url("/fail")}]},
                      {"name": "first", "targets": [{"channel": "webhook", "url": receiver.url("/first")}]},
                      {"name": "later", "targets": [{"channel": "webhook", "url": receiver.url("/later")}]}],
        "policies": [{"name": "p",
                      "stages": [{"after": "0s", "receivers": ["broken", "first"]},
                                 {"after": "3s", "receivers": ["later"]}]}],
        "routes": [{"policy": "p"}],
    }
    s = start_server(binary, receiver, policy)
    try:
        chlorine(s, "dl-1", 0.05)
        alert = open_alert_of(s, "dl-1")
        dead = aqw.wait_for(lambda: notifications(s, "state=failed"), what="a dead letter")
        assert len(dead) == 1 and dead[0]["attempts"] == 2, dead
        assert dead[0]["last_error"].startswith("HTTP 500"), dead
        assert len(receiver.to("/fail")) == 2
        aqw.wait_for(lambda: s.metric("aquawatch_notifications_failed_total",
                                      'channel="webhook"') == 1, what="the failure counted")
        aqw.wait_for(lambda: receiver.to("/first"), what="the first stage")

        # kill -9 before the second stage is due: it is told after the restart, once, and the
        # first stage is not told again.
        s.kill9()
        s.start()
        aqw.wait_for(lambda: receiver.to("/later"), timeout=20, what="the second stage")
        time.sleep(1)
        assert len(receiver.to("/first")) == 1 and len(receiver.to("/later")) == 1

        # The dead letter is still listed after the restart, and can be sent again.
        dead = notifications(s, "state=failed")
        assert len(dead) == 1, dead
        status, body = s.post_json("/api/v1/notifications/%d/retry" % dead[0]["id"], None)
        assert status == 200 and body["notification"]["state"] == "pending", body
        aqw.wait_for(lambda: len(receiver.to("/fail")) == 3, what="the retried attempt")
        one = aqw.wait_for(lambda: (lambda n: n if n["notification"]["state"] == "failed" else None)(
            s.get_json("/api/v1/notifications/%d" % dead[0]["id"])), what="failed again")
        assert [a["seq"] for a in one["attempts"]] == [0, 1, 2], one
        status, body = s.post_json("/api/v1/notifications/%d/retry" % 999999, None)
        assert status == 404, body
        for bad in ("state=lost", "channel=fax", "limit=0", "cursor=x", "color=red"):
            status, _, data = s.request("GET", "/api/v1/notifications?" + bad)
            assert status == 400, (bad, status, data)
        assert alert["id"] > 0
    finally:
        s.cleanup()
        receiver.close()


def test_the_policy_over_the_api(binary):
    receiver = Receiver()
    s = start_server(binary, receiver, {"receivers": [], "policies": [], "routes": []})
    try:
        got = s.get_json("/api/v1/notify/policy")
        assert got["source"] == "config" and got["policy"]["routes"] == [], got
        status, _, data = s.request("PUT", "/api/v1/notify/policy?by=alice",
                                    json.dumps({"routes": [{"policy": "night"}]}))
        assert status == 400, data
        assert json.loads(data)["error"] == 'routes[0].policy: no policy named "night"', data
        status, _, data = s.request("PUT", "/api/v1/notify/policy", "{}")
        assert status == 400 and b"by" in data, data
        new = {"receivers": [{"name": "r", "targets": [{"channel": "webhook",
                                                       "url": receiver.url("/api-hook")}]}],
               "policies": [{"name": "all", "stages": [{"receivers": ["r"]}]}],
               "routes": [{"policy": "all"}]}
        status, _, data = s.request("PUT", "/api/v1/notify/policy?by=alice", json.dumps(new))
        assert status == 200 and json.loads(data)["source"] == "api", data
        s.stop()
        s.start()
        assert s.get_json("/api/v1/notify/policy")["source"] == "api"
        chlorine(s, "pol-1", 0.05)
        aqw.wait_for(lambda: receiver.to("/api-hook"), what="the API's route")
        status, _, data = s.request("DELETE", "/api/v1/notify/policy?by=alice")
        assert status == 200 and json.loads(data)["source"] == "config", data
    finally:
        s.cleanup()
        receiver.close()


def test_websocket_subscription_filters(binary):
    receiver = Receiver()
    s = start_server(binary, receiver, {})
    try:
        north = aqw.WebSocket(s.http_port, "/api/v1/stream?values=false&zone=north")
        high = aqw.WebSocket(s.http_port, "/api/v1/stream?values=false&priority=high")
        time.sleep(0.2)
        chlorine(s, "ws-south", 0.25, zone="south")  # a warning: medium, zone south
        chlorine(s, "ws-north", 0.05, zone="north")  # critical: high, zone north
        got = north.wait_for(lambda m: m["type"] == "alert")
        assert got["alert"]["zone"] == "north", got
        got = high.wait_for(lambda m: m["type"] == "alert")
        assert got["alert"]["priority"] == "high", got
        north.close()
        high.close()
        status, _, data = s.request("GET", "/api/v1/stream?priority=urgent", None, {
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()})
        assert status == 400 and b"priority" in data, (status, data)
    finally:
        s.cleanup()
        receiver.close()


if __name__ == "__main__":
    aqw.run([test_a_contamination_alert_reaches_every_channel_and_escalates,
             test_acknowledging_stops_the_repeats_and_the_escalation,
             test_dead_letters_retry_and_a_kill9_in_the_middle_of_a_page,
             test_the_policy_over_the_api,
             test_websocket_subscription_filters])

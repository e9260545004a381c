"""The alert lifecycle through the REST API of a real server: acknowledge, comment, resolve by
hand, resolve after the hold, reopen, filters and pages, bad requests; and a kill -9 that keeps
every alert with its history."""

import json
import time

import aqw


def post(s, path, doc):
    status, _, data = s.request("POST", path, json.dumps(doc) if doc is not None else "",
                                {"Content-Type": "application/json"})
    return status, json.loads(data) if data else None


def chlorine(s, sensor, value, zone="z1"):
    status, _ = s.post_json("/api/v1/readings", [
        {"sensor": sensor, "zone": zone, "site": "plant-1",
         "values": {"free_chlorine_mg_l": value}}])
    assert status == 200


def open_alert_of(s, sensor):
    return aqw.wait_for(lambda: next(iter(s.get_json(
        "/api/v1/alerts?state=unresolved&sensor=%s" % sensor)["alerts"]), None),
        what="an alert on " + sensor)


def actions(s, alert_id):
    return [h["action"] for h in s.get_json("/api/v1/alerts/%d" % alert_id)["history"]]


def test_acknowledge_comment_and_a_kill9_keep_the_history(binary):
    s = aqw.Server(binary).start()
    ws = None
    try:
        ws = aqw.WebSocket(s.http_port, "/api/v1/stream?values=false")
        time.sleep(0.2)
        chlorine(s, "lc-1", 0.05)
        alert = open_alert_of(s, "lc-1")
        assert alert["state"] == "open" and alert["priority"] == "high"
        status, body = post(s, "/api/v1/alerts/%d/ack" % alert["id"],
                            {"by": "alice", "comment": "crew dispatched"})
        assert status == 200, body
        assert body["alert"]["state"] == "acknowledged"
        assert body["alert"]["acknowledged_by"] == "alice"
        assert body["alert"]["acknowledge_comment"] == "crew dispatched"
        pushed = ws.wait_for(lambda m: m["type"] == "alert" and m["event"] == "acknowledged")
        assert pushed["alert"]["id"] == alert["id"]
        status, body = post(s, "/api/v1/alerts/%d/comment" % alert["id"],
                            {"by": "bob", "comment": "hydrant 14 flushed"})
        assert status == 200, body

        # Bad requests say what is wrong and change nothing.
        status, body = post(s, "/api/v1/alerts/%d/ack" % alert["id"], {"by": "carol"})
        assert status == 409 and "already acknowledged by alice" in body["error"], body
        status, body = post(s, "/api/v1/alerts/%d/ack" % alert["id"], {"who": "carol"})
        assert status == 400 and "who" in body["error"], body
        status, body = post(s, "/api/v1/alerts/%d/ack" % alert["id"], {"by": 7})
        assert status == 400 and "'by'" in body["error"], body
        status, body = post(s, "/api/v1/alerts/%d/comment" % alert["id"], {"by": "carol"})
        assert status == 400 and "'comment'" in body["error"], body
        status, body = post(s, "/api/v1/alerts/%d/ack" % alert["id"], None)
        assert status == 400 and "not JSON" in body["error"], body
        status, body = post(s, "/api/v1/alerts/999999/ack", {"by": "carol"})
        assert status == 404, body
        status, _, _ = s.request("GET", "/api/v1/alerts/%d/ack" % alert["id"])
        assert status == 405
        status, _, data = s.request("GET", "/api/v1/alerts?state=closed")
        assert status == 400 and b"closed" in data
        assert actions(s, alert["id"]) == ["opened", "acknowledged", "commented"]

        # kill -9: the acknowledgement was answered, so it is on disk.
        s.kill9()
        ws.close()
        ws = None
        s.start()
        got = s.get_json("/api/v1/alerts/%d" % alert["id"])
        assert got["alert"]["state"] == "acknowledged", got
        assert got["alert"]["acknowledged_by"] == "alice"
        assert [h["action"] for h in got["history"]] == ["opened", "acknowledged", "commented"]
        assert got["history"][2]["by"] == "bob"
        # The replay found the condition still there: no second alert for it.
        assert len(s.get_json("/api/v1/alerts?sensor=lc-1")["alerts"]) == 1
        assert s.get_json("/api/v1/alerts")["open"] == 1

        status, body = post(s, "/api/v1/alerts/%d/resolve" % alert["id"],
                            {"by": "alice", "comment": "residual restored"})
        assert status == 200 and body["alert"]["state"] == "resolved", body
        assert body["alert"]["resolved_by"] == "alice"
        status, body = post(s, "/api/v1/alerts/%d/resolve" % alert["id"], {"by": "alice"})
        assert status == 409, body
        s.stop()
    finally:
        if ws:
            ws.close()
        s.cleanup()


def test_hold_reopen_filters_and_pages(binary):
    s = aqw.Server(binary, extra=["--alerts-resolve-hold", "3s",
                                  "--alerts-reopen-window", "1h"]).start()
    try:
        chlorine(s, "hr-1", 0.05)
        first = open_alert_of(s, "hr-1")
        chlorine(s, "hr-1", 0.8)
        cleared = aqw.wait_for(lambda: not s.get_json(
            "/api/v1/alerts/%d" % first["id"])["alert"]["active"], what="cleared")
        assert cleared
        # Clear, but inside the hold: still unresolved. Then resolved once the hold has run.
        assert s.get_json("/api/v1/alerts/%d" % first["id"])["alert"]["state"] == "open"
        resolved = aqw.wait_for(lambda: s.get_json("/api/v1/alerts/%d" % first["id"])["alert"]
                                if s.get_json("/api/v1/alerts/%d" % first["id"])["alert"]["state"]
                                == "resolved" else None, timeout=10, what="resolved after hold")
        assert resolved["resolved_by"] == "aquawatch"
        # Back within the reopen window: the same alert reopens.
        chlorine(s, "hr-1", 0.04)
        reopened = aqw.wait_for(lambda: s.get_json("/api/v1/alerts/%d" % first["id"])["alert"]
                                if s.get_json("/api/v1/alerts/%d" % first["id"])["alert"]["state"]
                                == "open" else None, what="reopened")
        assert reopened["reopened"] == 1
        assert actions(s, first["id"]) == ["opened", "cleared", "resolved", "reopened"]
        assert len(s.get_json("/api/v1/alerts?sensor=hr-1")["alerts"]) == 1

        # Filters and cursor pages.
        for i in range(5):
            chlorine(s, "pg-%d" % i, 0.05, zone="z-pages")
        aqw.wait_for(lambda: len(s.get_json("/api/v1/alerts?zone=z-pages")["alerts"]) == 5,
                     what="five alerts")
        seen, cursor = [], None
        while True:
            page = s.get_json("/api/v1/alerts?zone=z-pages&limit=2" +
                              ("&cursor=" + cursor if cursor else ""))
            seen += [a["sensor"] for a in page["alerts"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["pg-4", "pg-3", "pg-2", "pg-1", "pg-0"], seen
        assert s.get_json("/api/v1/alerts?zone=z-pages&priority=medium")["alerts"] == []
        assert len(s.get_json("/api/v1/alerts?zone=z-pages&kind=threshold&site=plant-1"
                              "&state=open&priority=high")["alerts"]) == 5
        assert s.get_json("/api/v1/alerts?zone=z-pages&from=2000-01-01T00:00:00Z"
                          "&to=2000-01-02T00:00:00Z")["alerts"] == []
        s.stop()
    finally:
        s.cleanup()


def test_silences_over_http_survive_kill9(binary):
    s = aqw.Server(binary).start()
    ws = None
    try:
        status, body = post(s, "/api/v1/silences", {
            "matchers": {"sensor": "cal-1"}, "duration": "2h", "by": "alice",
            "comment": "probe calibration"})
        assert status == 201, body
        silence = body["silence"]
        assert silence["state"] == "active" and silence["matchers"] == {"sensor": "cal-1"}
        # Bad silences name the field and create nothing.
        for doc, field in [({"duration": "2h", "by": "a", "comment": "c"}, "matchers"),
                           ({"matchers": {"sensr": "x"}, "duration": "2h", "by": "a",
                             "comment": "c"}, "sensr"),
                           ({"matchers": {"kind": "nope"}, "duration": "2h", "by": "a",
                             "comment": "c"}, "matchers.kind"),
                           ({"matchers": {"sensor": "x"}, "by": "a", "comment": "c"}, "duration"),
                           ({"matchers": {"sensor": "x"}, "duration": "2h", "by": "a"},
                            "comment")]:
            status, body = post(s, "/api/v1/silences", doc)
            assert status == 400 and field in body["error"], (doc, body)
        assert len(s.get_json("/api/v1/silences")["silences"]) == 1

        ws = aqw.WebSocket(s.http_port, "/api/v1/stream?values=false")
        time.sleep(0.2)
        chlorine(s, "cal-1", 0.05)  # silenced
        chlorine(s, "cal-2", 0.05)  # same site and zone, not silenced
        pushed = ws.wait_for(lambda m: m["type"] == "alert")
        assert pushed["alert"]["sensor"] == "cal-2", pushed
        silenced = open_alert_of(s, "cal-1")
        assert silenced["suppressed_by"] == "silence %d" % silence["id"], silenced
        assert s.metric("aquawatch_ws_alerts_suppressed_total") >= 1

        s.kill9()
        ws.close()
        ws = None
        s.start()
        assert s.get_json("/api/v1/silences?state=active")["silences"][0]["id"] == silence["id"]
        status, _, data = s.request("DELETE", "/api/v1/silences/%d?by=bob" % silence["id"])
        assert status == 200, data
        assert json.loads(data)["silence"]["state"] == "expired"
        status, _, _ = s.request("DELETE", "/api/v1/silences/%d?by=bob" % silence["id"])
        assert status == 409
        assert open_alert_of(s, "cal-1")["suppressed_by"] is None
        s.stop()
    finally:
        if ws:
            ws.close()
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_acknowledge_comment_and_a_kill9_keep_the_history,
             test_hold_reopen_filters_and_pages,
             test_silences_over_http_survive_kill9])

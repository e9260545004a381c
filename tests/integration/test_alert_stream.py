"""Alerts end to end: a contamination reading produces a high-priority alert on the WebSocket
stream and in /api/v1/alerts; the simulator's injected events do the same."""

import json
import os
import subprocess
import tempfile
import time

import aqw


def test_critical_reading_pushes_alert_on_websocket(binary):
    # Resolution at once, so the recovery below resolves without the default minute's hold
    # (test_alert_lifecycle.py covers the hold).
    s = aqw.Server(binary, extra=["--alerts-resolve-hold", "0"]).start()
    ws = None
    try:
        ws = aqw.WebSocket(s.http_port)
        time.sleep(0.2)  # the session registers with the hub after the handshake completes
        status, _ = s.post_json("/api/v1/readings", [
            {"sensor": "ws-1", "zone": "z9", "values": {"free_chlorine_mg_l": 0.9, "ph": 7.3}}])
        assert status == 200
        # Live values arrive on the stream too (throttled to one per sensor per second).
        value = ws.wait_for(lambda m: m["type"] == "value" and m["sensor"] == "ws-1")
        assert value["values"]["free_chlorine_mg_l"] == 0.9
        sent = time.time()
        status, _ = s.post_json("/api/v1/readings", [
            {"sensor": "ws-1", "values": {"free_chlorine_mg_l": 0.05, "turbidity_ntu": 1.8}}])
        assert status == 200
        alerts = []
        while len(alerts) < 2:
            alerts.append(ws.wait_for(lambda m: m["type"] == "alert"))
        elapsed = time.time() - sent
        by_param = {a["alert"]["parameter"]: a for a in alerts}
        chlorine = by_param["free_chlorine_mg_l"]
        assert chlorine["event"] == "opened"
        assert chlorine["alert"]["priority"] == "high"
        assert chlorine["alert"]["level"] == "critical_low"
        assert chlorine["alert"]["zone"] == "z9"
        assert chlorine["pushed_ns"] >= chlorine["alert"]["received_ns"]
        assert by_param["turbidity_ntu"]["alert"]["level"] == "critical_high"
        print("  alert reached the WebSocket %.1f ms after the POST" % (elapsed * 1000))
        listed = s.get_json("/api/v1/alerts?state=open")
        assert listed["open"] == 2 and len(listed["alerts"]) == 2
        # Recovery resolves both and says so on the stream.
        s.post_json("/api/v1/readings", [
            {"sensor": "ws-1", "values": {"free_chlorine_mg_l": 0.9, "turbidity_ntu": 0.1}}])
        resolved = ws.wait_for(lambda m: m["type"] == "alert" and m["event"] == "resolved")
        assert resolved["alert"]["state"] == "resolved"
        aqw.wait_for(lambda: s.get_json("/api/v1/alerts?state=open")["open"] == 0,
                     what="alerts resolved")
        # A duplicate of the contamination reading (same time) must not re-open anything.
        assert s.metric("aquawatch_ws_alerts_pushed_total") == 4
        s.stop()
    finally:
        if ws:
            ws.close()
        s.cleanup()


def test_simulated_contamination_event_raises_alert(binary):
    s = aqw.Server(binary).start()
    labels = tempfile.NamedTemporaryFile(prefix="aqw-labels-", suffix=".csv", delete=False).name
    ws = None
    sim = None
    try:
        ws = aqw.WebSocket(s.http_port, "/api/v1/stream?values=false")
        time.sleep(0.2)
        # 50 sensors, 60x faster than real time, a contamination event every 2 simulated minutes.
        sim = subprocess.Popen([binary, "simulate", "--sensors", "50", "--interval", "10",
                                "--speedup", "60", "--transport", "http", "--target",
                                "http://127.0.0.1:%d" % s.http_port, "--contamination-every",
                                "120", "--fault-rate", "0", "--labels", labels,
                                "--duration", "20", "--seed", "7"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        alert = ws.wait_for(lambda m: m["type"] == "alert" and m["event"] == "opened"
                            and m["alert"]["priority"] == "high"
                            and m["alert"]["kind"] in ("event", "threshold"), timeout=60)
        sim.wait(timeout=60)
        assert sim.returncode == 0, sim.stderr.read().decode()[-2000:]
        with open(labels) as f:
            rows = [line.strip().split(",") for line in f if line.strip()]
        header, rows = rows[0], rows[1:]
        contaminated = {r[header.index("sensor")] for r in rows
                        if r[header.index("kind")] == "contamination"}
        assert alert["alert"]["sensor"] in contaminated, (alert, contaminated)
        assert s.get_json("/api/v1/sensors")["total"] == 50
        s.stop()
    finally:
        if sim and sim.poll() is None:
            sim.kill()
        if ws:
            ws.close()
        os.unlink(labels)
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_critical_reading_pushes_alert_on_websocket,
             test_simulated_contamination_event_raises_alert])

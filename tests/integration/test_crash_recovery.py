"""kill -9 right after acknowledgements: every acknowledged reading is still there after a
restart, exactly once."""

import http.client
import json
import threading
import time

import aqw


def writer(port, worker, acked, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seq = 0
    while not stop.is_set():
        batch = [{"sensor": "crash-%d-%d" % (worker, i % 20), "time": 1_700_000_000_000 + seq + i,
                  "values": {"ph": 7.0 + (i % 10) / 10}} for i in range(50)]
        seq += 50
        try:
            conn.request("POST", "/api/v1/readings", json.dumps({"readings": batch}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return  # the server died mid-request: this batch was never acknowledged
        if resp.status == 200:
            acked.extend((r["sensor"], (r["time"]) * 1_000_000) for r in batch)


def test_kill9_loses_no_acknowledged_reading(binary):
    s = aqw.Server(binary).start()
    try:
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=writer, args=(s.http_port, w, acked, stop))
                   for w in range(4)]
        for t in threads:
            t.start()
        aqw.wait_for(lambda: len(acked) >= 20000, timeout=60, what="20,000 acked readings")
        s.kill9()  # mid-stream: writers are still sending
        stop.set()
        for t in threads:
            t.join()
        acknowledged = list(acked)
        # Restart on the same data: it must come up and serve what was acknowledged.
        s.start()
        recovered = s.metric("aquawatch_recovery_readings")
        assert recovered >= len(acknowledged), (recovered, len(acknowledged))
        last = {}
        for sensor, t in acknowledged:
            last[sensor] = max(last.get(sensor, 0), t)
        for sensor, t in list(last.items())[:10]:
            assert s.get_json("/api/v1/sensors/%s/latest" % sensor)["time_ns"] >= t
        # The store answers for every acknowledged reading, exactly once.
        stored = {}
        for sensor in last:
            doc = s.get_json("/api/v1/sensors/%s/readings?parameter=ph&from=1699999999000"
                             "&to=1700001000000" % sensor)
            for p in doc["series"][0]["points"]:
                key = (sensor, aqw.parse_rfc3339_ns(p["time"]))
                stored[key] = stored.get(key, 0) + 1
        lost = [r for r in acknowledged if r not in stored]
        twice = [k for k, n in stored.items() if n > 1]
        assert not lost, "%d acknowledged readings not queryable, e.g. %s" % (len(lost), lost[:3])
        assert not twice, "%d readings returned twice, e.g. %s" % (len(twice), twice[:3])
        print("  %d acknowledged readings, all present once after kill -9" % len(acknowledged))
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_kill9_loses_no_acknowledged_reading])

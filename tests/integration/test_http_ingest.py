"""HTTP ingestion against the real binary: JSON, InfluxDB v1/v2 line protocol, gzip, partial
writes with clear errors, and the query endpoints."""

import json

import aqw


def test_json_batch_is_stored_and_queryable(binary):
    s = aqw.Server(binary).start()
    try:
        status, body = s.post_json("/api/v1/readings", {"readings": [
            {"sensor": "plant-1", "time": "2026-11-27T10:00:00Z", "site": "north",
             "zone": "z1", "values": {"ph": 7.4, "turbidity_ntu": 0.12, "toc_mg_l": 2.5}},
            {"sensor": "plant-2", "time": 1795780800000, "values": {"ph": 7.1}},
        ]})
        assert status == 200, body
        assert body == {"accepted": 2, "rejected": 0}, body
        latest = s.get_json("/api/v1/sensors/plant-1/latest")
        assert latest["site"] == "north" and latest["zone"] == "z1"
        assert latest["values"] == {"ph": 7.4, "turbidity_ntu": 0.12, "toc_mg_l": 2.5}
        assert latest["time"] == "2026-11-27T10:00:00.000Z"
        sensors = s.get_json("/api/v1/sensors")
        assert [x["id"] for x in sensors["sensors"]] == ["plant-1", "plant-2"]
        assert sensors["total"] == 2
        assert s.get_json("/api/v1/sensors?limit=1")["next_after"] == "plant-1"
        assert s.metric("aquawatch_readings_accepted_total", 'listener="http_json"') == 2
        status, _, _ = s.request("GET", "/api/v1/sensors/nope/latest")
        assert status == 404
        status, _, data = s.request("GET", "/api/v1/sensors/bad%20id/latest")
        assert status == 400 and b"sensor id" in data
        s.stop()
    finally:
        s.cleanup()


def test_bad_line_is_rejected_with_line_field_reason_and_good_lines_kept(binary):
    s = aqw.Server(binary).start()
    try:
        body = ("water,sensor=a ph=7.1 1700000000000\n"
                "water,sensor=b ph=7,2 1700000000000\n"
                "water,sensor=c turbidity_ntu=0.2 1700000000000\n")
        status, _, data = s.request("POST", "/write?db=x&precision=ms", body)
        assert status == 400, data
        doc = json.loads(data)
        assert doc["accepted"] == 2 and doc["rejected"] == 1, doc
        assert doc["errors"] == [{"line": 2, "field": "ph",
                                  "reason": 'invalid float value "7,2"'}], doc
        assert doc["error"].startswith("partial write: line 2"), doc
        assert s.get_json("/api/v1/sensors/a/latest")["time"] == "2023-11-14T22:13:20.000Z"
        assert s.get_json("/api/v1/sensors/c/latest")["values"] == {"turbidity_ntu": 0.2}
        status, _, _ = s.request("GET", "/api/v1/sensors/b/latest")
        assert status == 404
        assert s.metric("aquawatch_readings_rejected_total",
                        'listener="http_line_protocol"') == 1
        # The v2 endpoint reports the same in InfluxDB 2's shape.
        status, _, data = s.request("POST", "/api/v2/write?bucket=b&org=o",
                                    "water,sensor=d ph=x\n")
        doc = json.loads(data)
        assert status == 400 and doc["code"] == "invalid" and "line 1" in doc["message"], doc
        # JSON API: one bad reading among good ones.
        status, doc = s.post_json("/api/v1/readings", [
            {"sensor": "e", "values": {"ph": 7}},
            {"sensor": "f", "values": {"ph": "seven"}},
        ])
        assert status == 400 and doc["accepted"] == 1 and doc["rejected"] == 1, doc
        assert doc["errors"][0]["field"] == "ph", doc
        s.get_json("/api/v1/sensors/e/latest")
        s.stop()
    finally:
        s.cleanup()


def test_influx_endpoints_accept_precision_gzip_and_refuse_bad_requests(binary):
    s = aqw.Server(binary).start()
    try:
        status, _, data = s.request("POST", "/write?db=telegraf&precision=s",
                                    "water,sensor=g1 ph=7.0,free_chlorine_mg_l=1i 1700000000")
        assert status == 204, data
        assert s.get_json("/api/v1/sensors/g1/latest")["time_ns"] == 1700000000 * 10**9
        status, _, data = s.request("POST", "/api/v2/write?bucket=b&precision=us",
                                    aqw.gzip_bytes("water,sensor=g2 ph=6.9 1700000000000000\n"),
                                    {"Content-Encoding": "gzip"})
        assert status == 204, data
        assert s.get_json("/api/v1/sensors/g2/latest")["values"]["ph"] == 6.9
        status, _, data = s.request("POST", "/write?db=x", b"\x1f\x8b not gzip",
                                    {"Content-Encoding": "gzip"})
        assert status == 400 and b"gzip" in data, data
        status, _, data = s.request("POST", "/write?db=x&precision=fortnight", "water,sensor=a ph=1")
        assert status == 400 and b"precision" in data, data
        status, _, data = s.request("POST", "/write", "water,sensor=a ph=1")
        assert status == 400 and b"database is required" in data, data
        status, _, data = s.request("GET", "/write?db=x")
        assert status == 405
        s.stop()
    finally:
        s.cleanup()


def test_health_metrics_and_unknown_routes(binary):
    s = aqw.Server(binary).start()
    try:
        assert s.get_json("/healthz")["status"] == "ok"
        assert s.get_json("/readyz")["status"] == "ready"
        status, headers, data = s.request("GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        text = data.decode()
        for name in ("aquawatch_readings_accepted_total", "aquawatch_readings_rejected_total",
                     "aquawatch_queue_readings", "aquawatch_ingest_batch_readings_bucket",
                     "aquawatch_ack_latency_seconds_bucket", "aquawatch_log_sync_seconds_bucket",
                     "process_resident_memory_bytes"):
            assert name in text, name
        status, _, _ = s.request("GET", "/nope")
        assert status == 404
        status, _, data = s.request("GET", "/api/v1/alerts?state=maybe")
        assert status == 400 and b"state" in data
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_json_batch_is_stored_and_queryable,
             test_bad_line_is_rejected_with_line_field_reason_and_good_lines_kept,
             test_influx_endpoints_accept_precision_gzip_and_refuse_bad_requests,
             test_health_metrics_and_unknown_routes])

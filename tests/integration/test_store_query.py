"""The embedded store through the real binary: history written over HTTP comes back from
/api/v1/sensors/{id}/readings raw and aggregated, as JSON and CSV, before and after a restart,
with late and duplicate readings handled and bad queries answered with clear 400s."""

import csv
import io
import json

import aqw

T0_MS = 1_795_737_600_000  # 2026-11-27T00:00:00Z
STEP_MS = 10_000
N = 1080  # three hours at 10 s


def lp_lines(sensor, start, count, value):
    return "\n".join("water,sensor=%s ph=%.2f,turbidity_ntu=%.3f %d" %
                     (sensor, value(i), 0.1 + (i % 5) / 100, T0_MS + (start + i) * STEP_MS)
                     for i in range(count))


def write(s, body):
    status, _, data = s.request("POST", "/write?db=x&precision=ms", body)
    return status, data


def query(s, sensor, q):
    return s.request("GET", "/api/v1/sensors/%s/readings?%s" % (sensor, q))


def test_history_raw_aggregated_and_after_restart(binary):
    s = aqw.Server(binary).start()
    try:
        for start in range(0, N, 200):
            status, data = write(s, lp_lines("plant-1", start, min(200, N - start),
                                             lambda i: 7 + ((start + i) % 10) / 100))
            assert status == 204, (status, data)
        rng = "from=%d&to=%d" % (T0_MS, T0_MS + N * STEP_MS - 1)

        def check():
            doc = s.get_json("/api/v1/sensors/plant-1/readings?parameter=ph&" + rng)
            points = doc["series"][0]["points"]
            assert len(points) == N, len(points)
            assert points[0]["time"] == "2026-11-27T00:00:00.000Z", points[0]
            assert abs(points[123]["value"] - (7 + (123 % 10) / 100)) < 1e-9
            assert points[0]["quality"] in ("good", "suspect")
            # Hourly averages come from the roll-ups and agree with the raw values.
            hourly = s.get_json("/api/v1/sensors/plant-1/readings?parameter=ph&step=1h&agg=avg&"
                                + rng)["series"][0]["points"]
            assert [p["count"] for p in hourly] == [360, 360, 360], hourly
            for h, p in enumerate(hourly):
                raw = [x["value"] for x in points[h * 360:(h + 1) * 360]]
                assert abs(p["value"] - sum(raw) / len(raw)) < 1e-9
            minutes = s.get_json("/api/v1/sensors/plant-1/readings?step=1m&agg=max&" + rng)
            assert [x["parameter"] for x in minutes["series"]] == ["ph", "turbidity_ntu"]
            assert len(minutes["series"][0]["points"]) == 180
            assert minutes["series"][1]["points"][0]["value"] == 0.14
            # CSV by Accept header.
            status, headers, data = s.request(
                "GET", "/api/v1/sensors/plant-1/readings?parameter=turbidity_ntu&" + rng,
                headers={"Accept": "text/csv"})
            assert status == 200 and headers["Content-Type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(data.decode())))
            assert len(rows) == N and rows[0]["parameter"] == "turbidity_ntu"
            assert float(rows[4]["value"]) == 0.14

        check()
        s.stop()
        s.start()
        check()
    finally:
        s.cleanup()


def test_late_duplicate_and_too_late_readings(binary):
    s = aqw.Server(binary).start()
    try:
        assert write(s, lp_lines("river-2", 0, 720, lambda i: 7.0))[0] == 204  # two hours
        # A duplicate (last write wins) and a late reading in an earlier, sealed window.
        assert write(s, "water,sensor=river-2 ph=9.5 %d" % (T0_MS + 700 * STEP_MS))[0] == 204
        assert write(s, "water,sensor=river-2 ph=8.5 %d" % (T0_MS + 400 * STEP_MS + 5000))[0] == 204
        # Older than the newest reading minus the late window (1 h): refused, and said so.
        status, data = write(s, "water,sensor=river-2 ph=6.0 %d\nwater,sensor=river-2 ph=7.1 %d"
                             % (T0_MS + 5 * STEP_MS, T0_MS + 720 * STEP_MS))
        assert status == 400, (status, data)
        assert b"late_window" in data, data
        doc = s.get_json("/api/v1/sensors/river-2/readings?parameter=ph&from=%d&to=%d"
                         % (T0_MS, T0_MS + 721 * STEP_MS))
        points = doc["series"][0]["points"]
        assert len(points) == 722, len(points)  # 720 + the late one + the one accepted with it
        by_time = {p["time"]: p["value"] for p in points}
        assert by_time["2026-11-27T01:56:40.000Z"] == 9.5
        assert by_time["2026-11-27T01:06:45.000Z"] == 8.5
        assert by_time["2026-11-27T00:00:50.000Z"] == 7.0
        assert s.metric("aquawatch_store_values_duplicate_total") >= 1
        assert s.metric("aquawatch_readings_too_late_total") == 1
    finally:
        s.cleanup()


def test_bad_queries_get_clear_errors(binary):
    s = aqw.Server(binary).start()
    try:
        assert write(s, lp_lines("plant-9", 0, 10, lambda i: 7.0))[0] == 204
        cases = [
            ("parameter=chlorine", "unknown parameter \"chlorine\""),
            ("from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z", "is after"),
            ("from=yesterday", "neither RFC 3339"),
            ("step=5x", "step \"5x\""),
            ("agg=avg", "agg needs a step"),
            ("step=1m&agg=median", "must be one of"),
            ("from=0&to=%d&step=1ms" % (T0_MS + 10**9), "more than 100000 points"),
        ]
        for q, expect in cases:
            status, _, data = query(s, "plant-9", q)
            assert status == 400, (q, status, data)
            assert expect in json.loads(data)["error"], (q, data)
        status, _, data = query(s, "nobody", "")
        assert status == 404, (status, data)
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_history_raw_aggregated_and_after_restart,
             test_late_duplicate_and_too_late_readings,
             test_bad_queries_get_clear_errors])

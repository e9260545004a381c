"""Bad input cannot hurt the store: a huge line is refused by name (or, with the limit lifted,
stored and read back after a kill -9), a reading from a runaway clock is refused without
silencing the sensor, and cardinality limits refuse only the offending lines."""

import json
import time

import aqw

YEAR_NS = 365 * 86400 * 10**9


def wide_line(sensor, fields, t_ns):
    return "water,sensor=%s %s %d\n" % (
        sensor, ",".join("f%d=%d" % (i, i % 10) for i in range(fields)), t_ns)


def test_a_line_with_65537_fields_is_refused_by_name_and_the_rest_kept(binary):
    s = aqw.Server(binary).start()
    try:
        now = time.time_ns()
        body = wide_line("wide", 65537, now) + "water,sensor=narrow ph=7.1 %d\n" % now
        assert len(body) > 500_000
        status, _, data = s.request("POST", "/write?db=x", body)
        assert status == 400, data[:500]
        doc = json.loads(data)
        assert doc["accepted"] == 1 and doc["rejected"] == 1, doc
        assert doc["errors"][0]["line"] == 1, doc
        assert "ingest.max_fields_per_line" in doc["errors"][0]["reason"], doc
        assert doc["errors"][0]["limit"] == "ingest.max_fields_per_line", doc
        assert s.metric("aquawatch_readings_limited_total", 'limit="fields_per_line"') == 1
        s.stop()
        s.start()  # the server that took the good line starts again
        assert s.get_json("/api/v1/sensors/narrow/latest")["values"] == {"ph": 7.1}
        status, _, _ = s.request("GET", "/api/v1/sensors/wide/latest")
        assert status == 404
        s.stop()
    finally:
        s.cleanup()


def test_with_the_limits_lifted_a_65537_field_line_survives_kill9(binary):
    s = aqw.Server(binary, extra=["--ingest-max-fields-per-line", "none",
                                  "--ingest-max-parameters-per-sensor", "none"]).start()
    try:
        now = time.time_ns()
        status, _, data = s.request("POST", "/write?db=x", wide_line("wide", 65537, now))
        assert status == 204, data[:500]
        s.kill9()
        s.start()
        values = s.get_json("/api/v1/sensors/wide/latest")["values"]
        assert len(values) == 65537 and values["f65536"] == 6, len(values)
        s.stop()
        s.start()  # and once more after a clean stop (checkpoint path)
        assert len(s.get_json("/api/v1/sensors/wide/latest")["values"]) == 65537
        s.stop()
    finally:
        s.cleanup()


def test_a_reading_from_a_runaway_clock_does_not_silence_the_sensor(binary):
    s = aqw.Server(binary).start()
    try:
        now_ms = time.time_ns() // 10**6
        status, doc = s.post_json("/api/v1/readings", [
            {"sensor": "rtc-1", "time": now_ms + 100 * YEAR_NS // 10**6, "values": {"ph": 7.2}}])
        assert status == 400, doc
        assert doc["rejected"] == 1 and "ingest.max_future" in doc["errors"][0]["reason"], doc
        status, doc = s.post_json("/api/v1/readings", [
            {"sensor": "rtc-1", "time": 946_684_799_000, "values": {"ph": 7.2}}])  # 1999
        assert status == 400 and "ingest.min_time" in doc["errors"][0]["reason"], doc
        assert s.metric("aquawatch_readings_limited_total", 'limit="future_time"') == 1
        assert s.metric("aquawatch_readings_limited_total", 'limit="min_time"') == 1
        # Real readings after it are taken, and a contamination reading raises alerts.
        status, doc = s.post_json("/api/v1/readings", [
            {"sensor": "rtc-1", "time": now_ms - 1000,
             "values": {"ph": 7.2, "free_chlorine_mg_l": 0.9}},
            {"sensor": "rtc-1", "time": now_ms,
             "values": {"ph": 3.0, "free_chlorine_mg_l": 0.01}}])
        assert status == 200, doc
        aqw.wait_for(lambda: {a["parameter"] for a in s.get_json(
            "/api/v1/alerts?state=open")["alerts"] if a["sensor"] == "rtc-1"} >=
            {"ph", "free_chlorine_mg_l"}, what="pH and chlorine alerts for rtc-1")
        # Late and out-of-order readings within the window still work.
        status, doc = s.post_json("/api/v1/readings", [
            {"sensor": "rtc-1", "time": now_ms - 60_000, "values": {"ph": 7.1}}])
        assert status == 200, doc
        s.stop()
    finally:
        s.cleanup()


def test_cardinality_limits_refuse_only_the_offending_lines(binary):
    s = aqw.Server(binary, extra=["--ingest-max-sensors", "3",
                                  "--ingest-max-parameters-per-sensor", "2"]).start()
    try:
        now = time.time_ns()
        body = "".join("water,sensor=c%d ph=7.%d %d\n" % (i, i, now) for i in range(5))
        status, _, data = s.request("POST", "/write?db=x", body)
        assert status == 400, data
        doc = json.loads(data)
        # Which three get in depends on which shard admits first; that only three do does not.
        assert doc["accepted"] == 3 and doc["rejected"] == 2, doc
        assert all("ingest.max_sensors" in e["reason"] for e in doc["errors"]), doc
        assert s.metric("aquawatch_readings_limited_total", 'limit="sensors"') == 2
        sensors = [x["id"] for x in s.get_json("/api/v1/sensors")["sensors"]]
        assert len(sensors) == 3, sensors
        known = sensors[0]
        status, _, data = s.request(
            "POST", "/write?db=x",
            "water,sensor=%s ph=7.0,orp_mv=600,conductivity_us_cm=500 %d\n"
            "water,sensor=%s ph=7.5 %d\n" % (known, now + 1, known, now + 2))
        assert status == 400, data
        doc = json.loads(data)
        assert doc["accepted"] == 1 and doc["rejected"] == 1, doc
        assert doc["errors"][0]["line"] == 1, doc
        assert "ingest.max_parameters_per_sensor" in doc["errors"][0]["reason"], doc
        assert s.get_json("/api/v1/sensors/%s/latest" % known)["values"] == {"ph": 7.5}
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_a_line_with_65537_fields_is_refused_by_name_and_the_rest_kept,
             test_with_the_limits_lifted_a_65537_field_line_survives_kill9,
             test_a_reading_from_a_runaway_clock_does_not_silence_the_sensor,
             test_cardinality_limits_refuse_only_the_offending_lines])

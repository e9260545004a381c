"""The sensor catalog through the real binary: sensors are registered by their first reading,
edited with PUT, validated field by field, and kept across a restart."""

import json

import aqw


def put(s, sensor, doc):
    status, _, data = s.request("PUT", "/api/v1/sensors/" + sensor, json.dumps(doc),
                                {"Content-Type": "application/json"})
    return status, json.loads(data)


def test_sensors_register_themselves_and_can_be_edited(binary):
    s = aqw.Server(binary).start()
    try:
        status, _ = s.post_json("/api/v1/readings", {"readings": [
            {"sensor": "plant-7", "site": "north", "zone": "z1", "time": 1_795_737_600_000,
             "values": {"ph": 7.2, "turbidity_ntu": 0.3}}]})
        assert status == 200, status
        aqw.wait_for(lambda: s.request("GET", "/api/v1/sensors/plant-7")[0] == 200, timeout=10,
                     what="plant-7 in the catalog")
        rec = s.get_json("/api/v1/sensors/plant-7")
        assert rec["site"] == "north" and rec["zone"] == "z1", rec
        assert rec["parameters"] == ["ph", "turbidity_ntu"], rec
        assert rec["status"] == "active" and rec["first_seen"] == "2026-11-27T00:00:00.000Z", rec

        status, rec = put(s, "plant-7", {"name": "Intake 7", "latitude": 51.5, "longitude": -0.12,
                                         "profile": "raw_surface_water", "site": "south"})
        assert status == 200, rec
        assert rec["name"] == "Intake 7" and rec["latitude"] == 51.5 and rec["site"] == "south"
        # Readings do not overwrite what a person set.
        s.post_json("/api/v1/readings", {"readings": [
            {"sensor": "plant-7", "site": "north", "time": 1_795_737_610_000,
             "values": {"ph": 7.3, "orp_mv": 650}}]})
        for doc, field in [({"latitude": 91}, "latitude"), ({"status": "broken"}, "status"),
                           ({"profile": "swimming_pool"}, "profile"), ({"colour": "red"}, "colour")]:
            status, err = put(s, "plant-7", doc)
            assert status == 400, (doc, status, err)
            assert field in err["error"], (doc, err)
        status, _, data = s.request("PUT", "/api/v1/sensors/bad%20id", "{}")
        assert status == 400, data
        profiles = [p["name"] for p in s.get_json("/api/v1/profiles")["profiles"]]
        assert "treated_drinking_water" in profiles and len(profiles) == 5, profiles
        # A sensor can be created before it sends anything.
        status, rec = put(s, "planned-1", {"name": "not installed yet", "status": "maintenance"})
        assert status == 200 and rec["first_seen"] is None, rec

        s.stop()
        s.start()
        rec = s.get_json("/api/v1/sensors/plant-7")
        assert rec["site"] == "south" and rec["name"] == "Intake 7", rec
        assert s.get_json("/api/v1/sensors/planned-1")["status"] == "maintenance"
        assert s.request("GET", "/api/v1/sensors/nobody")[0] == 404
    finally:
        s.cleanup()


def put_profile(s, name, doc):
    status, _, data = s.request("PUT", "/api/v1/profiles/" + name, json.dumps(doc),
                                {"Content-Type": "application/json"})
    return status, json.loads(data)


def open_thresholds(s, sensor):
    alerts = s.get_json("/api/v1/alerts?state=open&sensor=" + sensor)["alerts"]
    return {(a["parameter"], a["level"]) for a in alerts if a["kind"] == "threshold"}


def test_profiles_choose_the_rules_and_edits_survive_a_restart(binary):
    s = aqw.Server(binary).start()
    try:
        gw = s.get_json("/api/v1/profiles/groundwater")
        assert gw["rules"]["conductivity_us_cm"]["warn_high"] == 800, gw
        assert gw["rules"]["conductivity_us_cm"]["critical_low"] is None, gw
        assert s.request("GET", "/api/v1/profiles/moon_base")[0] == 404

        # Edit groundwater: conductivity warns above 700 and waits for nothing.
        status, doc = put_profile(s, "groundwater", {"rules": {"conductivity_us_cm": {
            "warn_high": 700, "critical_high": 1400, "min_duration": 0}}})
        assert status == 200, doc
        assert doc["rules"]["conductivity_us_cm"]["warn_high"] == 700, doc
        for bad, says in [({"rules": {"conductivity_us_cm": {"warn_high": 2000}}}, "critical_high"),
                          ({"rules": {"salinity": {"warn_high": 1}}}, "salinity"),
                          ({"rules": {"ph": {"warn_high": "high"}}}, "rules.ph.warn_high")]:
            status, err = put_profile(s, "groundwater", bad)
            assert status == 400 and says in err["error"], (bad, status, err)

        # well-1 follows groundwater, plant-1 the default (treated drinking water, which has no
        # conductivity rule): the same reading alerts on one only.
        status, rec = put(s, "well-1", {"profile": "groundwater"})
        assert status == 200, rec
        status, _ = s.post_json("/api/v1/readings", {"readings": [
            {"sensor": sensor, "time": 1_795_737_600_000, "values": {"conductivity_us_cm": 750}}
            for sensor in ("well-1", "plant-1")]})
        assert status == 200
        aqw.wait_for(lambda: open_thresholds(s, "well-1") == {("conductivity_us_cm", "warn_high")},
                     timeout=10, what="well-1 conductivity warning")
        assert open_thresholds(s, "plant-1") == set()

        # After a restart the edited rule and the sensor's profile still apply.
        s.stop()
        s.start()
        gw = s.get_json("/api/v1/profiles/groundwater")
        assert gw["rules"]["conductivity_us_cm"]["warn_high"] == 700, gw
        s.post_json("/api/v1/readings", {"readings": [
            {"sensor": "well-1", "time": 1_795_737_610_000, "values": {"conductivity_us_cm": 650}},
            {"sensor": "well-1", "time": 1_795_737_620_000, "values": {"conductivity_us_cm": 1500}}]})
        aqw.wait_for(lambda: open_thresholds(s, "well-1")
                     == {("conductivity_us_cm", "critical_high")},
                     timeout=10, what="well-1 critical after restart")
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_sensors_register_themselves_and_can_be_edited,
             test_profiles_choose_the_rules_and_edits_survive_a_restart])

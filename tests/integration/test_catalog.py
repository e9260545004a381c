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
        profiles = s.get_json("/api/v1/profiles")["profiles"]
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


if __name__ == "__main__":
    aqw.run([test_sensors_register_themselves_and_can_be_edited])

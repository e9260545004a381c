"""kill -9 right after acknowledgements: every acknowledged reading is still there after a
restart, exactly once."""

import http.client
import json
import os
import random
import socket
import subprocess
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


class MixedLoad:
    """HTTP JSON and line-protocol writers (acknowledged), a TCP line-protocol sender (no acks), an
    MQTT QoS 1 publisher through a real Mosquitto, and a reader, against one server. Every
    writer owns its sensors, and each sensor's clock only moves forward across rounds."""

    # Per writer. Each writer's readings are a millisecond apart, so a sensor gets one every
    # 64 ms: 56,250 an hour, under the 65,535 a chunk window holds (store.chunk_span 1h).
    SENSORS = 64

    def __init__(self, t0_ms, mqtt_port):
        self.acked = {}        # sensor -> set of ms acknowledged (HTTP)
        self.published = {}    # sensor -> set of ms the broker took (MQTT)
        self.tcp_sent = {}     # sensor -> set of ms sent over TCP (no promise)
        self.attempted = {}    # sensor -> set of ms sent over HTTP, answered or not
        self.next_ms = {}      # writer -> next timestamp
        self.t0_ms = t0_ms
        self.mqtt_port = mqtt_port
        self.bad_status = []

    def _times(self, writer, n):
        start = self.next_ms.get(writer, self.t0_ms)
        self.next_ms[writer] = start + n
        return range(start, start + n)

    def _attempt(self, name, times):
        for t in times:
            self.attempted.setdefault("%s-%d" % (name, t % self.SENSORS), set()).add(t)

    def json_writer(self, port, name, stop):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            times = list(self._times(name, 100))
            self._attempt(name, times)
            batch = [{"sensor": "%s-%d" % (name, t % self.SENSORS), "time": t,
                      "values": {"ph": 7.0 + (t % 10) / 10, "turbidity_ntu": 0.3}} for t in times]
            try:
                conn.request("POST", "/api/v1/readings", json.dumps({"readings": batch}),
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                return  # killed mid-request: never acknowledged
            if resp.status == 200:
                for r in batch:
                    self.acked.setdefault(r["sensor"], set()).add(r["time"])
            elif resp.status != 503:
                self.bad_status.append(("json", resp.status, data[:300]))

    def line_writer(self, port, name, stop):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            times = list(self._times(name, 100))
            self._attempt(name, times)
            body = "".join("water,sensor=%s-%d ph=7.%d,chlorine_mg_l=0.8 %d\n"
                           % (name, t % self.SENSORS, t % 10, t) for t in times)
            try:
                conn.request("POST", "/write?db=x&precision=ms", body)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                return
            if resp.status == 204:
                for t in times:
                    self.acked.setdefault("%s-%d" % (name, t % self.SENSORS), set()).add(t)
            elif resp.status != 503:
                self.bad_status.append(("write", resp.status, data[:300]))

    def tcp_sender(self, port, name, stop):
        try:
            with socket.create_connection(("127.0.0.1", port)) as c:
                while not stop.is_set():
                    times = list(self._times(name, 200))
                    c.sendall("".join("water,sensor=%s-%d ph=7.2 %d\n"
                                      % (name, t % self.SENSORS, t * 1_000_000)
                                      for t in times).encode())
                    for t in times:
                        self.tcp_sent.setdefault("%s-%d" % (name, t % self.SENSORS), set()).add(t)
                    time.sleep(0.01)
        except OSError:
            pass

    def reader(self, port, stop):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        paths = ["/api/v1/sensors?limit=50", "/metrics", "/api/v1/alerts",
                 "/api/v1/sensors/json-3/latest",
                 "/api/v1/sensors/lp-1/readings?parameter=ph&step=1m&agg=count&from=%d&to=%d"
                 % (self.t0_ms, self.t0_ms + 10**8)]
        i = 0
        while not stop.is_set():
            try:
                conn.request("GET", paths[i % len(paths)])
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                return
            if resp.status not in (200, 404):
                self.bad_status.append((paths[i % len(paths)], resp.status))
            i += 1

    def start_mqtt_publisher(self, name, n):
        """Hands n QoS 1 messages to the broker; the server takes them while it is up."""
        times = list(self._times(name, n))
        lines = ["water,sensor=%s-%d ph=7.4 %d" % (name, t % self.SENSORS, t * 1_000_000)
                 for t in times]
        pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", self.mqtt_port, "-q",
                                "1", "-l", "-t", "aquawatch/crash/readings"],
                               stdin=subprocess.PIPE)
        pub.stdin.write(("\n".join(lines) + "\n").encode())
        pub.stdin.close()
        return pub, [("%s-%d" % (name, t % self.SENSORS), t) for t in times]

    def stored(self, s, sensor):
        """Every stored time of the sensor, read in windows (one answer holds 100,000 points)."""
        times = []
        end = max(self.next_ms.values(), default=self.t0_ms) + 1
        window = 6_000_000  # ms: at most 93,750 points of one sensor
        for start in range(self.t0_ms - 1, end, window):
            doc = s.get_json("/api/v1/sensors/%s/readings?parameter=ph&from=%d&to=%d"
                             % (sensor, start, min(start + window - 1, end)))
            times += [aqw.parse_rfc3339_ns(p["time"]) // 1_000_000
                      for p in doc["series"][0]["points"]]
        return times

    def check(self, s, what):
        """Every acknowledged reading is there, none twice; returns how many were checked."""
        checked = 0
        for sensor in sorted(set(self.acked) | set(self.tcp_sent) | set(self.published)):
            times = self.stored(s, sensor)
            assert len(times) == len(set(times)), "%s: %s stored twice" % (what, sensor)
            have = set(times)
            lost = self.acked.get(sensor, set()) - have
            assert not lost, "%s: %d acknowledged readings of %s lost, e.g. %s" % (
                what, len(lost), sensor, sorted(lost)[:3])
            # A request the kill cut off may still have been stored: sent, never acknowledged.
            extra = have - self.attempted.get(sensor, set()) - self.tcp_sent.get(sensor, set()) \
                - self.published.get(sensor, set())
            assert not extra, "%s: %s has readings nobody sent: %s" % (what, sensor, sorted(extra)[:3])
            checked += len(self.acked.get(sensor, ()))
        return checked


def test_kill9_loop_under_mixed_load(binary):
    """Rounds of: start, mixed load with small log segments and frequent checkpoints, kill -9 at a
    random moment, restart and check. AQUAWATCH_TEST_CRASH_ROUNDS and AQUAWATCH_TEST_CRASH_SEED make the
    long version (bench/crash.sh)."""
    rounds = int(os.environ.get("AQUAWATCH_TEST_CRASH_ROUNDS", "4"))
    seed = int(os.environ.get("AQUAWATCH_TEST_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    mqtt_port = os.environ.get("AQUAWATCH_TEST_MQTT_PORT")
    extra = ["--store-checkpoint-mb", "1", "--pipeline-log-segment-bytes", "262144"]
    if mqtt_port:
        extra += ["--mqtt-broker", "tcp://127.0.0.1:" + mqtt_port, "--mqtt-topic",
                  "aquawatch/crash/readings", "--mqtt-client-id", "aqw-crash-%d" % os.getpid()]
    # Every reading is a millisecond after its writer's last: 12 hours back leaves room for long
    # runs (bench/crash.sh) before the writers' clocks would pass ingest.max_future.
    load = MixedLoad(int(time.time() * 1000) - 12 * 3_600_000, mqtt_port)
    s = aqw.Server(binary, extra=extra)
    print("  seed %d, %d rounds%s" % (seed, rounds, "" if mqtt_port else " (no MQTT broker)"))
    mqtt_pending = []
    from_checkpoints = 0
    try:
        for r in range(rounds):
            s.start()
            if r > 0:
                load.check(s, "after kill %d" % r)
                from_checkpoints += s.metric("aquawatch_recovery_checkpoint_sensors")
            stop = threading.Event()
            port = s.http_port
            threads = [threading.Thread(target=load.json_writer, args=(port, "json", stop)),
                       threading.Thread(target=load.line_writer, args=(port, "lp", stop)),
                       threading.Thread(target=load.tcp_sender, args=(s.tcp_port, "tcp", stop)),
                       threading.Thread(target=load.reader, args=(port, stop))]
            for t in threads:
                t.start()
            if mqtt_port:
                mqtt_pending.append(load.start_mqtt_publisher("mq", 1000))
            time.sleep(rng.uniform(0.5, 3.0))
            s.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            for pub, sent in mqtt_pending:
                assert pub.wait(timeout=120) == 0
                for sensor, t in sent:
                    load.published.setdefault(sensor, set()).add(t)
            mqtt_pending = []
        s.start()
        if mqtt_port:
            # The broker redelivers what was unacknowledged when the server died.
            want = sum(len(v) for v in load.published.values())
            aqw.wait_for(lambda: sum(len(set(load.stored(s, k)) & v)
                                     for k, v in load.published.items()) == want,
                         timeout=120, what="every MQTT message the broker took")
        checked = load.check(s, "after the last kill")
        from_checkpoints += s.metric("aquawatch_recovery_checkpoint_sensors")
        assert from_checkpoints > 0, "no restart started from a checkpoint: the load is too light"
        assert not load.bad_status, load.bad_status[:5]
        s.stop()  # and a clean stop and start on top of it
        s.start()
        assert load.check(s, "after a clean restart") == checked
        assert s.metric("aquawatch_recovery_quarantined_records") == 0
        print("  %d acknowledged HTTP readings, %d MQTT messages, %d TCP lines over %d kills: "
              "all acknowledged present once" % (checked, sum(map(len, load.published.values())),
                                                 sum(map(len, load.tcp_sent.values())), rounds))
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_kill9_loses_no_acknowledged_reading, test_kill9_loop_under_mixed_load])

"""MQTT ingestion through a real Mosquitto broker (started by scripts/test-services.sh, port in
AQUAWATCH_TEST_MQTT_PORT), published with the real mosquitto_pub client at QoS 1."""

import json
import os
import time
import subprocess

import aqw


def broker_port():
    port = os.environ.get("AQUAWATCH_TEST_MQTT_PORT")
    assert port, ("AQUAWATCH_TEST_MQTT_PORT is not set: run the tests through `make test` "
                  "(scripts/test-services.sh starts Mosquitto)")
    return port


def publish(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic,
                    "-m", payload], check=True, timeout=30)


def test_json_and_line_protocol_payloads_over_mqtt(binary):
    port = broker_port()
    client_id = "aquawatch-it-%d" % os.getpid()
    s = aqw.Server(binary, extra=["--mqtt-broker", "tcp://127.0.0.1:" + port,
                                  "--mqtt-client-id", client_id]).start()
    try:
        publish(port, "aquawatch/mq-1/readings",
                '{"readings":[{"sensor":"mq-1","values":{"ph":7.25,"orp_mv":640}}]}')
        now_ns = time.time_ns()
        lp = "".join("water,sensor=mq-%d ph=7.%d,turbidity_ntu=0.1 %d\n" % (i, i, now_ns - 10**9 + i)
                     for i in range(2, 10))
        publish(port, "aquawatch/gateway-7/readings", "# a gateway's batch\n" + lp +
                "water,sensor=mq-bad ph=\n")
        aqw.wait_for(lambda: s.metric("aquawatch_readings_accepted_total",
                                      'listener="mqtt"') == 9, what="9 mqtt readings")
        assert s.metric("aquawatch_readings_rejected_total", 'listener="mqtt"') == 1
        assert s.get_json("/api/v1/sensors/mq-1/latest")["values"] == {"ph": 7.25, "orp_mv": 640}
        assert s.get_json("/api/v1/sensors/mq-5/latest")["values"]["ph"] == 7.5
        s.stop()
    finally:
        s.cleanup()


def test_messages_published_while_down_arrive_after_restart(binary):
    port = broker_port()
    client_id = "aquawatch-it-restart-%d" % os.getpid()
    s = aqw.Server(binary, extra=["--mqtt-broker", "tcp://127.0.0.1:" + port,
                                  "--mqtt-client-id", client_id]).start()
    try:
        s.stop()  # the persistent session and its subscription stay at the broker
        publish(port, "aquawatch/late-1/readings", "water,sensor=late-1 ph=6.9")
        s.start()
        aqw.wait_for(lambda: s.metric("aquawatch_readings_accepted_total",
                                      'listener="mqtt"') == 1, what="queued message")
        assert s.get_json("/api/v1/sensors/late-1/latest")["values"]["ph"] == 6.9
        s.stop()
    finally:
        s.cleanup()


def test_kill9_loses_no_message_the_broker_delivered(binary):
    """QoS 1 messages are acknowledged to the broker only once durable: kill -9 mid-stream, and
    every message the broker took from the publisher is stored exactly once after a restart."""
    port = broker_port()
    client_id = "aquawatch-it-kill9-%d" % os.getpid()
    s = aqw.Server(binary, extra=["--mqtt-broker", "tcp://127.0.0.1:" + port,
                                  "--mqtt-client-id", client_id]).start()
    try:
        sensors, per_sensor = 10, 300
        t0 = time.time_ns() - 10**9 * per_sensor
        lines = ["water,sensor=mk-%d ph=7.%d %d" % (m % sensors, m % 10, t0 + (m // sensors) * 10**9)
                 for m in range(sensors * per_sensor)]
        pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-l",
                                "-t", "aquawatch/kill9/readings", "-i", "pub-%d" % os.getpid()],
                               stdin=subprocess.PIPE)
        pub.stdin.write(("\n".join(lines) + "\n").encode())
        pub.stdin.close()
        aqw.wait_for(lambda: s.metric("aquawatch_readings_accepted_total", 'listener="mqtt"') >= 300,
                     timeout=60, what="300 mqtt readings before the kill")
        before_kill = s.metric("aquawatch_readings_accepted_total", 'listener="mqtt"')
        s.kill9()  # mid-stream: the publisher is still sending
        assert pub.wait(timeout=120) == 0  # every message is with the broker now
        s.start()
        def stored():
            n = 0
            for i in range(sensors):
                status, _, data = s.request(
                    "GET", "/api/v1/sensors/mk-%d/readings?parameter=ph&from=%d&to=%d"
                    % (i, t0 // 10**6 - 1, t0 // 10**6 + per_sensor * 1000 + 1))
                if status == 200:
                    n += len(json.loads(data)["series"][0]["points"])
            return n
        aqw.wait_for(lambda: stored() >= len(lines), timeout=120,
                     what="all %d published readings stored" % len(lines))
        assert stored() == len(lines)  # none twice: a redelivery replaces itself
        print("  %d QoS 1 messages, kill -9 after %d, all stored once" % (len(lines), before_kill))
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_json_and_line_protocol_payloads_over_mqtt,
             test_messages_published_while_down_arrive_after_restart,
             test_kill9_loses_no_message_the_broker_delivered])

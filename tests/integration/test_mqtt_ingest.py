"""MQTT ingestion through a real Mosquitto broker (started by scripts/test-services.sh, port in
AQUAWATCH_TEST_MQTT_PORT), published with the real mosquitto_pub client at QoS 1."""

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


if __name__ == "__main__":
    aqw.run([test_json_and_line_protocol_payloads_over_mqtt,
             test_messages_published_while_down_arrive_after_restart])

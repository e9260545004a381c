"""Alert events through a real RabbitMQ broker (started by scripts/test-services.sh): role all
with --alert-bus rabbitmq delivers through the broker; a separate role notify process takes
events from the durable priority queue high priority first, including events published while
no notifier was running."""

import json
import os
import uuid

import aqw
from test_notifications import Receiver, chlorine, open_alert_of


def amqp_port():
    port = os.environ.get("AQUAWATCH_TEST_AMQP_PORT")
    assert port, ("AQUAWATCH_TEST_AMQP_PORT is not set: run the tests through `make test` "
                  "(scripts/test-services.sh starts RabbitMQ)")
    return port


def bus_flags(queue):
    return ["--alert-bus", "rabbitmq", "--rabbitmq-port", amqp_port(), "--rabbitmq-queue", queue]


def write_policy(s, receiver, path="/bus-hook"):
    policy = {"receivers": [{"name": "r", "targets": [{"channel": "webhook",
                                                       "url": receiver.url(path)}]}],
              "policies": [{"name": "all", "stages": [{"receivers": ["r"]}]}],
              "routes": [{"policy": "all"}]}
    p = os.path.join(s.data_dir, "policy.json")
    with open(p, "w") as f:
        json.dump(policy, f)
    s.extra += ["--notify-policy-file", p]


def test_role_all_delivers_through_the_broker(binary):
    receiver = Receiver()
    s = aqw.Server(binary, extra=bus_flags("aqw-test-" + uuid.uuid4().hex))
    write_policy(s, receiver)
    s.start()
    try:
        chlorine(s, "bus-1", 0.05)
        alert = open_alert_of(s, "bus-1")
        hook = aqw.wait_for(lambda: receiver.to("/bus-hook"), what="the webhook")[0]
        assert json.loads(hook["body"])["alert"]["id"] == alert["id"]
        assert s.metric("aquawatch_alert_bus_published_total") >= 1
        aqw.wait_for(lambda: s.metric("aquawatch_alert_bus_consumed_total") >= 1,
                     what="the event to be acknowledged")
        # The receiver sees the request before the server has counted its answer.
        aqw.wait_for(lambda: s.metric("aquawatch_notification_latency_seconds_count",
                                      'channel="webhook",priority="high"') == 1,
                     what="the delivery latency to be counted")
    finally:
        s.cleanup()
        receiver.close()


def test_a_notify_role_takes_high_priority_first(binary):
    receiver = Receiver()
    queue = "aqw-test-" + uuid.uuid4().hex
    # The processing side publishes; nothing consumes yet.
    process = aqw.Server(binary, extra=bus_flags(queue) + ["--notify-enabled", "false"])
    process.start()
    notify = None
    try:
        chlorine(process, "warn-1", 0.25)  # medium
        chlorine(process, "warn-2", 0.25)  # medium
        chlorine(process, "crit-1", 0.05)  # high, published last
        for sensor in ("warn-1", "warn-2", "crit-1"):
            open_alert_of(process, sensor)
        aqw.wait_for(lambda: process.metric("aquawatch_alert_bus_published_total") >= 3,
                     what="three confirmed publishes")

        notify = aqw.Server(binary, extra=bus_flags(queue) + [
            "--role", "notify", "--rabbitmq-prefetch", "1"])
        write_policy(notify, receiver)
        notify.start()
        hooks = aqw.wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(
            receiver.to("/bus-hook")), what="three webhooks")
        order = [json.loads(h["body"])["alert"]["sensor"] for h in hooks]
        assert order[0] == "crit-1", order
        assert sorted(order[1:]) == ["warn-1", "warn-2"], order
        records = notify.get_json("/api/v1/notifications")["notifications"]
        assert len(records) == 3 and all(r["state"] == "delivered" for r in records), records
        status, _, _ = notify.request("GET", "/api/v1/alerts")
        assert status == 404, "role notify serves notifications only"
    finally:
        process.cleanup()
        if notify:
            notify.cleanup()
        receiver.close()


if __name__ == "__main__":
    aqw.run([test_role_all_delivers_through_the_broker,
             test_a_notify_role_takes_high_priority_first])

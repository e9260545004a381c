"""Overload is backpressure, not loss: with tiny shard queues, HTTP answers 429 + Retry-After
for what it did not take (and nothing of it is stored), and a TCP sender is slowed down but
every line arrives."""

import http.client
import json
import socket
import threading

import aqw

TINY_QUEUES = ["--pipeline-max-queued-readings", "1", "--pipeline-max-queued-batches", "2",
               "--pipeline-shards", "1", "--pipeline-partitions", "1"]


def test_http_overload_gets_429_and_loses_nothing_acknowledged(binary):
    s = aqw.Server(binary, extra=TINY_QUEUES).start()
    try:
        results = []
        lock = threading.Lock()

        def client(worker):
            conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=30)
            for i in range(40):
                body = json.dumps([{"sensor": "bp-%d" % worker, "time": 1_700_000_000_000 + i,
                                    "values": {"ph": 7.0}} for _ in range(1)])
                conn.request("POST", "/api/v1/readings", body,
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                with lock:
                    results.append((worker, resp.status, resp.getheader("Retry-After")))

        threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = [r[1] for r in results]
        assert set(statuses) <= {200, 429}, set(statuses)
        refused = [r for r in results if r[1] == 429]
        assert refused, "8 concurrent writers never met a full queue of one reading"
        assert all(r[2] == "1" for r in refused), "429 without Retry-After"
        acked = {}
        for worker, status, _ in results:
            if status == 200:
                acked[worker] = acked.get(worker, 0) + 1
        for worker, n in acked.items():
            # Each accepted request stored exactly one reading; refused ones stored nothing.
            assert s.get_json("/api/v1/sensors/bp-%d/latest" % worker)["readings"] == n
        assert s.metric("aquawatch_backpressure_total", 'listener="http_json"') == len(refused)
        print("  %d accepted, %d refused with 429" % (len(results) - len(refused), len(refused)))
        s.stop()
    finally:
        s.cleanup()


def test_tcp_sender_is_slowed_not_dropped(binary):
    s = aqw.Server(binary, extra=TINY_QUEUES).start()
    try:
        def sender(conn_index):
            lines = "".join("water,sensor=bt-%d-%d ph=7.1 %d\n"
                            % (conn_index, i % 50, 1_700_000_000_000_000_000 + i)
                            for i in range(20000)).encode()
            with socket.create_connection(("127.0.0.1", s.tcp_port)) as c:
                for pos in range(0, len(lines), 8192):
                    c.sendall(lines[pos:pos + 8192])

        # Three connections compete for one shard that admits one batch at a time.
        senders = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        aqw.wait_for(lambda: s.metric("aquawatch_readings_accepted_total",
                                      'listener="tcp"') == 60000, timeout=120,
                     what="all 60,000 tcp readings")
        refusals = s.metric("aquawatch_backpressure_total", 'listener="tcp"')
        assert refusals > 0, "the tiny queue never pushed back"
        print("  all 60,000 lines stored; the listener was pushed back %d times" % refusals)
        assert s.metric("aquawatch_readings_rejected_total", 'listener="tcp"') == 0
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_http_overload_gets_429_and_loses_nothing_acknowledged,
             test_tcp_sender_is_slowed_not_dropped])

"""SIGTERM under load: input stops, every request already taken is answered, the server exits 0,
and after a restart every acknowledged reading is there exactly once."""

import http.client
import json
import signal
import socket
import threading
import time

import aqw


def http_writer(port, worker, acked, outcomes, stop):
    """POSTs batches on one keep-alive connection until the server goes away."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    seq = 0
    while not stop.is_set():
        batch = [{"sensor": "down-%d-%d" % (worker, i % 10), "time": 1_700_000_000_000 + seq + i,
                  "values": {"ph": 7.0 + (i % 10) / 10}} for i in range(200)]
        seq += 200
        try:
            conn.request("POST", "/api/v1/readings", json.dumps({"readings": batch}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except socket.timeout:
            outcomes.append("hung")  # sent, and no answer within 30 s: the defect
            return
        except (OSError, http.client.HTTPException):
            # Refused, or the server closed an idle keep-alive connection before reading this
            # request: nothing was taken; a client retries elsewhere.
            outcomes.append("closed")
            return
        outcomes.append(resp.status)
        if resp.status == 200:
            acked.extend(("down-%d-%d" % (worker, i % 10), 1_700_000_000_000 + seq - 200 + i)
                         for i in range(200))
        if resp.getheader("Connection", "").lower() == "close":
            return


def read_response(sock, timeout=15):
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_sigterm_answers_every_request_in_flight(binary):
    s = aqw.Server(binary).start()
    try:
        # A request half sent when the signal comes: it must still be read and answered.
        body = "".join("water,sensor=down-half ph=7.%d %d\n" % (i % 10, 1_700_000_000 + i)
                       for i in range(100)).encode()
        half = socket.create_connection(("127.0.0.1", s.http_port))
        half.sendall(b"POST /write?db=x&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body[:len(body) // 2])
        # An idle keep-alive connection: it must be closed, not left open until a timeout.
        idle = socket.create_connection(("127.0.0.1", s.http_port))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.settimeout(10)
        assert b"200" in idle.recv(65536).split(b"\r\n")[0]
        # TCP line protocol streaming at the same time.
        tcp = socket.create_connection(("127.0.0.1", s.tcp_port))
        tcp_stop = threading.Event()

        def tcp_sender():
            n = 0
            try:
                while not tcp_stop.is_set():
                    tcp.sendall("".join("water,sensor=down-tcp ph=7.1 %d\n" % (1_700_000_000 + n + i)
                                        for i in range(500)).encode())
                    n += 500
            except OSError:
                pass  # the server stopped reading and closed: line protocol has no acks

        acked, outcomes, stop = [], [], threading.Event()
        writers = [threading.Thread(target=http_writer, args=(s.http_port, w, acked, outcomes, stop))
                   for w in range(4)] + [threading.Thread(target=tcp_sender)]
        for t in writers:
            t.start()
        aqw.wait_for(lambda: len(acked) >= 10000, timeout=60, what="10,000 acked readings")

        signalled = time.time()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        half.sendall(body[len(body) // 2:])
        answer = read_response(half)
        status_line = answer.split(b"\r\n")[0]
        assert status_line == b"HTTP/1.1 204 No Content", answer[:300]
        assert b"Connection: close" in answer, answer[:300]
        assert read_response(idle, timeout=5) == b""  # closed by the server, not by a timeout
        for t in writers[:4]:
            t.join(timeout=60)
            assert not t.is_alive(), "an HTTP writer is still waiting"
        tcp_stop.set()
        rc = s.proc.wait(timeout=30)
        stopped_after = time.time() - signalled
        writers[4].join(timeout=10)
        assert rc == 0, "exit %d\n%s" % (rc, s.log_text())
        assert "hung" not in outcomes, outcomes[-10:]
        assert all(o in (200, 503, "closed") for o in outcomes), set(map(str, outcomes))
        acknowledged = list(acked)

        s.start()
        assert s.metric("aquawatch_recovery_readings") == 0  # a clean stop checkpoints: nothing to replay
        stored = {}
        for sensor in sorted({a[0] for a in acknowledged}):
            doc = s.get_json("/api/v1/sensors/%s/readings?parameter=ph&from=1699999999000"
                             "&to=1700010000000" % sensor)
            for p in doc["series"][0]["points"]:
                key = (sensor, aqw.parse_rfc3339_ns(p["time"]) // 1_000_000)
                stored[key] = stored.get(key, 0) + 1
        missing = [a for a in acknowledged if a not in stored]
        assert not missing, "%d acknowledged readings lost, e.g. %s" % (len(missing), missing[:3])
        assert all(n == 1 for n in stored.values())
        half_doc = s.get_json("/api/v1/sensors/down-half/readings?parameter=ph"
                              "&from=1699999999000&to=1700010000000")
        assert len(half_doc["series"][0]["points"]) == 100
        print("  %d HTTP readings acknowledged, stopped %.1f s after SIGTERM, all there once; "
              "outcomes %s" % (len(acknowledged), stopped_after,
                               {str(o): outcomes.count(o) for o in set(outcomes)}))
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_sigterm_answers_every_request_in_flight])

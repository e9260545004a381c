"""TCP line protocol against the real binary: many lines per packet, lines split across
packets, a bad line counted while the rest are kept."""

import socket
import time

import aqw


def test_many_lines_per_packet_and_split_lines(binary):
    s = aqw.Server(binary).start()
    try:
        t0 = 1_700_000_000_000_000_000
        lines = "".join("water,sensor=tcp-%03d,site=s ph=7.%d,orp_mv=650i %d\n" % (i, i % 10,
                                                                                  t0 + i)
                        for i in range(500))
        lines += "water,sensor=tcp-bad ph=oops\n"
        lines += "water,sensor=tcp-last ph=7.3"  # no newline: ends with the connection
        data = lines.encode()
        with socket.create_connection(("127.0.0.1", s.tcp_port)) as c:
            # Uneven chunks so lines straddle packet boundaries.
            pos = 0
            for size in (1, 7, 100, 4096, 333):
                c.sendall(data[pos:pos + size])
                pos += size
                time.sleep(0.01)
            c.sendall(data[pos:])
        aqw.wait_for(lambda: s.metric("aquawatch_readings_accepted_total",
                                      'listener="tcp"') == 501, what="501 tcp readings")
        assert s.metric("aquawatch_readings_rejected_total", 'listener="tcp"') == 1
        latest = s.get_json("/api/v1/sensors/tcp-042/latest")
        assert latest["values"] == {"ph": 7.2, "orp_mv": 650}, latest
        assert latest["time_ns"] == t0 + 42
        assert s.get_json("/api/v1/sensors/tcp-last/latest")["values"]["ph"] == 7.3
        assert s.get_json("/api/v1/sensors")["total"] == 501
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_many_lines_per_packet_and_split_lines])

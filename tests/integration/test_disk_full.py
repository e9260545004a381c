"""A full disk, for real: the data directory on a small tmpfs. While it is full, writes get 503
and reads still work; nothing acknowledged is lost; writes resume by themselves once space
returns, and everything acknowledged survives a kill -9. Needs root to mount (CI has it);
skipped with a message otherwise."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

import aqw


def mount_tmpfs(size_mb):
    point = tempfile.mkdtemp(prefix="aqw-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", point],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(point)
        raise aqw.Skip("cannot mount a tmpfs (needs root): %s" % r.stderr.strip())
    return point


def fill(path):
    """Writes zeros until the file system refuses; returns the bytes written."""
    written = 0
    block = b"\0" * (64 * 1024)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(block)
        except OSError:
            pass
    return written


class Writer:
    def __init__(self, port, t0_ms):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.next_ms = t0_ms
        self.acked, self.statuses, self.errors = [], [], []

    def post(self, n=200):
        times = range(self.next_ms, self.next_ms + n)
        self.next_ms += n
        batch = [{"sensor": "full-%d" % (t % 5), "time": t, "values": {"ph": 7.1}} for t in times]
        self.conn.request("POST", "/api/v1/readings", json.dumps({"readings": batch}),
                          {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        body = resp.read()
        self.statuses.append(resp.status)
        if resp.status == 200:
            self.acked.extend(("full-%d" % (t % 5), t) for t in times)
        else:
            self.errors.append(body.decode(errors="replace"))
        return resp.status


def stored(s, t0_ms):
    out = {}
    for i in range(5):
        status, _, data = s.request("GET", "/api/v1/sensors/full-%d/readings?parameter=ph"
                                    "&from=%d&to=%d" % (i, t0_ms - 1, t0_ms + 10**8))
        if status != 200:
            continue
        for p in json.loads(data)["series"][0]["points"]:
            key = ("full-%d" % i, aqw.parse_rfc3339_ns(p["time"]) // 1_000_000)
            out[key] = out.get(key, 0) + 1
    return out


def test_full_disk_gets_503_loses_nothing_and_resumes(binary):
    point = mount_tmpfs(96)
    s = None
    try:
        data_dir = os.path.join(point, "data")
        os.mkdir(data_dir)
        s = aqw.Server(binary, data_dir=data_dir,
                       extra=["--pipeline-log-segment-bytes", "1048576", "--store-checkpoint-mb",
                              "2", "--store-storage-retry-interval", "200ms"]).start()
        t0 = int(time.time() * 1000) - 1_800_000
        w = Writer(s.http_port, t0)
        for _ in range(20):
            assert w.post() == 200
        filler = os.path.join(point, "filler")
        fill(filler)
        # Full now: writes must be refused, soon and clearly, never acknowledged and lost.
        deadline = time.time() + 60
        while time.time() < deadline and w.post() != 503:
            pass
        assert w.statuses[-1] == 503, "no 503 while the disk is full: %s" % w.statuses[-10:]
        # Stay full a while: the shards keep retrying, and must keep refusing.
        for _ in range(40):
            assert w.post() == 503
            time.sleep(0.05)
        assert "storage" in w.errors[-1].lower() or "space" in w.errors[-1].lower(), w.errors[-1]
        assert s.metric("aquawatch_storage_failures_total") >= 1
        # Reads go on while writes are refused.
        assert s.request("GET", "/api/v1/sensors/full-1/latest")[0] == 200
        full_503s = w.statuses.count(503)

        os.remove(filler)  # space returns: the shards take writes again by themselves
        aqw.wait_for(lambda: w.post() == 200, timeout=30, what="writes to resume after space returned")
        for _ in range(20):
            assert w.post() == 200
        assert s.metric("aquawatch_storage_recoveries_total") >= 1
        assert set(w.statuses) <= {200, 503}, set(w.statuses)

        s.kill9()
        s.start()
        have = stored(s, t0)
        lost = [a for a in w.acked if a not in have]
        assert not lost, "%d acknowledged readings lost, e.g. %s" % (len(lost), lost[:3])
        assert all(n == 1 for n in have.values())
        print("  %d readings acknowledged around a full disk (%d writes refused with 503 while "
              "full), all present once after kill -9" % (len(w.acked), full_503s))
        s.stop()
    except Exception:
        if s:
            print(s.log_text())
        raise
    finally:
        if s:
            s.cleanup()
        subprocess.run(["umount", "-l", point])
        shutil.rmtree(point, ignore_errors=True)


if __name__ == "__main__":
    aqw.run([test_full_disk_gets_503_loses_nothing_and_resumes])

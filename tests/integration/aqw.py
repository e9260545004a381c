"""Helpers for integration tests: run the real aquawatch binary on free ports, talk to it over
HTTP, TCP and WebSocket with nothing but the Python standard library."""

import argparse
import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    return p.parse_args()


class Server:
    """An `aquawatch serve` process on ports chosen by the OS, with its own data directory."""

    def __init__(self, binary, data_dir=None, extra=()):
        self.binary = binary
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="aqw-it-")
        self.extra = list(extra)
        self.proc = None
        self.http_port = None
        self.tcp_port = None

    def start(self, timeout=30):
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")
        cmd = [self.binary, "serve", "--data-dir", self.data_dir, "--http-port", "0",
               "--tcp-port", "0"] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(b"{"):
                ready = json.loads(line)
                if ready.get("event") == "ready":
                    self.http_port = ready["http_port"]
                    self.tcp_port = ready["tcp_port"]
                    return self
        raise AssertionError("server did not become ready: %r\n%s" % (line, self.log_text()))

    def log_text(self):
        try:
            with open(os.path.join(self.data_dir, "server.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("server did not stop on SIGTERM")
            assert rc == 0, "server exited with %d\n%s" % (rc, self.log_text())

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- HTTP -------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), data

    def get_json(self, path):
        status, _, data = self.request("GET", path)
        assert status == 200, "%s -> %d %s" % (path, status, data)
        return json.loads(data)

    def post_json(self, path, doc):
        status, _, data = self.request("POST", path, json.dumps(doc),
                                       {"Content-Type": "application/json"})
        return status, (json.loads(data) if data else None)

    def metric(self, name, labels=None):
        """Sum of every series of `name` (optionally only those containing `labels`)."""
        _, _, data = self.request("GET", "/metrics")
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            series = key.split("{")[0]
            if series == name and (labels is None or labels in key):
                total += float(value)
        return total


def parse_rfc3339_ns(text):
    """'2026-11-27T10:00:00.123Z' (as the API writes times) -> ns since the epoch."""
    import calendar
    base, _, frac = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def gzip_bytes(text):
    return gzip.compress(text.encode())


class WebSocket:
    """A minimal RFC 6455 client: enough to read the server's text frames."""

    def __init__(self, port, path="/api/v1/stream"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed during WebSocket handshake"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("WebSocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv_json(self, timeout=20):
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("WebSocket closed by server")
            if opcode == 0x1:
                return json.loads(payload)

    def wait_for(self, predicate, timeout=20):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no matching WebSocket message")
            msg = self.recv_json(timeout=left)
            if predicate(msg):
                return msg

    def close(self):
        self.sock.close()


class Skip(Exception):
    """Raised by a test that cannot run on this machine (the message says why)."""


SKIP_EXIT_CODE = 77  # ctest's SKIP_RETURN_CODE for the integration tests


def run(tests):
    """Runs test functions in order; prints a summary line; exits non-zero on failure, or with
    SKIP_EXIT_CODE when every test was skipped."""
    args = parse_args()
    passed = failed = skipped = 0
    for t in tests:
        start = time.time()
        try:
            t(args.binary)
            passed += 1
            print("PASS %s (%.1f s)" % (t.__name__, time.time() - start), flush=True)
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (t.__name__, e), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
    sys.exit(SKIP_EXIT_CODE if skipped and not passed else 0)

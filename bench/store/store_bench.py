#!/usr/bin/env python3
"""Embedded store benchmark: restart time and memory at scale, and query latency (stdlib only).

  store_bench.py restart [--sensors 1000000] [--readings 3] [--binary build/release/aquawatch]
  store_bench.py query   [--days 1] [--year | --no-year] [--runs 200] [--binary ...]
  store_bench.py all     [options of both]

`restart` loads N sensors x 6 parameters x K readings over TCP line protocol, then measures three
restarts: (a) after a clean stop (checkpoints only), (b) after kill -9 following a small extra
load (checkpoint + log tail), (c) after kill -9 on a server that never checkpointed (full log
replay). `query` loads one sensor-day at 10 s and a sensor-year at 10 min and times HTTP queries
over one keep-alive connection. Every server runs on ports chosen by the OS, with its own data
directory under one temporary directory that is removed at the end unless --keep (after a
failure or Ctrl-C only the server logs stay). Each server's stderr (its log) is kept there as
logs/<step>.log; recovery lines, warnings and errors of every log are copied into the results.

Progress goes to stderr; Markdown tables go to stdout; `all` also writes
build/bench-results/store-<UTC time>.json.
"""

import argparse
import glob
import http.client
import json
import multiprocessing
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Canonical parameters written by this benchmark (orp_mv is left out, as in the brief), with a
# realistic range for a base value per sensor and how much a reading may move around it. The
# ranges stay inside the default drinking-water thresholds (src/detect/rules.cc) so the load does
# not open a million alerts, which would measure the alert manager instead of the store.
PARAMS = [
    # name,                   base low, base high, jitter
    ("ph",                    7.00,     7.80,      0.05),
    ("turbidity_ntu",         0.05,     0.20,      0.02),
    ("dissolved_oxygen_mg_l", 7.00,     10.00,     0.10),
    ("temperature_c",         8.00,     20.00,     0.10),
    ("conductivity_us_cm",    200.00,   600.00,    2.00),
    ("free_chlorine_mg_l",    0.50,     1.50,      0.03),
]
PARAM_NAMES = [p[0] for p in PARAMS]

NS = 1_000_000_000
READING_INTERVAL_S = 10
SENDERS = 4
LINES_PER_SEND = 20_000  # lines joined into one sendall(): big writes, bounded memory

# Servers started by this process, so that every exit path (exception, Ctrl-C, SIGTERM) can stop
# them. A benchmark that leaves a server with 10 GB of RSS behind is worse than one that fails.
_LIVE_SERVERS = []


def log(msg):
    """Progress on stderr, time-stamped, so stdout stays clean Markdown."""
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --- line protocol ------------------------------------------------------------------------------

def sensor_id(i):
    """Fixed-width ids sort like their numbers and keep every line the same length."""
    return "s%07d" % i


def base_values(i):
    """Per-sensor base value of every parameter: deterministic (a cheap hash of i, no RNG state to
    carry across processes) and spread over the parameter's range."""
    out = []
    for k, (_, lo, hi, _) in enumerate(PARAMS):
        h = ((i + 1) * 2654435761 + k * 40503) % 1000
        out.append(lo + (hi - lo) * h / 999.0)
    return out


def reading_fields(base, i, j):
    """The field set of reading j of sensor i: base plus a small deterministic wobble, quantised
    to 0.01 by the %.2f format (what a real probe reports)."""
    parts = []
    for k, (name, _, _, jitter) in enumerate(PARAMS):
        wobble = (((i * 31 + j * 17 + k * 7) % 21) - 10) / 10.0 * jitter
        parts.append("%s=%.2f" % (name, base[k] + wobble))
    return ",".join(parts)


def fleet_lines(sensors, first_ns, readings, interval_s=READING_INTERVAL_S):
    """Yields line-protocol lines for `sensors` (sensor numbers), reading-major: every sensor's
    reading 0, then every sensor's reading 1, ... — how a fleet reporting every 10 s arrives, and
    in time order per sensor so nothing is late. The per-sensor prefix and base values are built
    once per sensor, not once per line."""
    prefixes = ["water,sensor=%s " % sensor_id(i) for i in sensors]
    bases = [base_values(i) for i in sensors]
    for j in range(readings):
        ts = " %d\n" % (first_ns + j * interval_s * NS)
        for n, i in enumerate(sensors):
            yield prefixes[n] + reading_fields(bases[n], i, j) + ts


def series_lines(sensor, first_ns, count, interval_s, seed):
    """Yields `count` lines of one sensor at a fixed interval, in time order."""
    prefix = "water,sensor=%s " % sensor
    base = base_values(seed)
    for j in range(count):
        yield "%s%s %d\n" % (prefix, reading_fields(base, seed, j), first_ns + j * interval_s * NS)


def send_lines(tcp_port, lines):
    """Sends lines over one TCP connection in large writes; returns (lines, bytes). The server
    pauses reading when its shard queues are full, so sendall simply blocks: that is the
    backpressure, not an error."""
    n_lines = n_bytes = 0
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=600) as sock:
        buf = []
        for line in lines:
            buf.append(line)
            if len(buf) >= LINES_PER_SEND:
                data = "".join(buf).encode()
                sock.sendall(data)
                n_lines += len(buf)
                n_bytes += len(data)
                buf = []
        if buf:
            data = "".join(buf).encode()
            sock.sendall(data)
            n_lines += len(buf)
            n_bytes += len(data)
        sock.shutdown(socket.SHUT_WR)
        # Wait for the server to close its side, so every byte has been read by it.
        sock.settimeout(600)
        while sock.recv(65536):
            pass
    return n_lines, n_bytes


def _fleet_sender(args):
    """Worker-process entry point (must be a top-level function to be picklable): one sender
    generates and sends its share of the fleet."""
    tcp_port, sensors, first_ns, readings = args
    return send_lines(tcp_port, fleet_lines(sensors, first_ns, readings))


def _sender_init():
    """Senders leave Ctrl-C to the parent (which terminates them) and die quietly on SIGTERM,
    instead of inheriting the parent's handler and each printing a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def load_fleet(server, sensor_numbers, first_ns, readings, senders=SENDERS):
    """Loads readings for `sensor_numbers` over `senders` parallel connections, each in its own
    process (line generation is CPU-bound Python; threads would share one GIL). Sensor i goes to
    sender i % senders, so each sensor's readings stay in order on one connection. Returns
    (lines, bytes, seconds) from the first byte sent until every line is durable."""
    shares = [sensor_numbers[k::senders] for k in range(senders)]
    jobs = [(server.tcp_port, share, first_ns, readings) for share in shares if share]
    expected = len(sensor_numbers) * readings
    durable_before = server.metric_sum("aquawatch_readings_durable_total")
    t0 = time.monotonic()
    # multiprocessing.Pool rather than ProcessPoolExecutor: leaving the `with` block terminates
    # the senders, so an error or Ctrl-C does not wait for them to finish sending.
    with multiprocessing.Pool(len(jobs), initializer=_sender_init) as pool:
        pending = [pool.apply_async(_fleet_sender, (job,)) for job in jobs]
        wait_durable(server, durable_before + expected, pending)
        results = [r.get(timeout=600) for r in pending]
    seconds = time.monotonic() - t0
    lines = sum(r[0] for r in results)
    size = sum(r[1] for r in results)
    assert lines == expected, "sent %d lines, expected %d" % (lines, expected)
    return lines, size, seconds


def wait_durable(server, target, senders=(), stall_timeout=600):
    """Waits until aquawatch_readings_durable_total reaches `target`. Fails fast if the server
    refused readings (they would never become durable) or if nothing moved for `stall_timeout`
    seconds, instead of hanging for the whole run."""
    last_value, last_change = -1.0, time.monotonic()
    last_report = 0.0
    while True:
        m = server.metrics()
        durable = metric_sum(m, "aquawatch_readings_durable_total")
        refused = sum(metric_sum(m, name) for name in (
            "aquawatch_readings_rejected_total", "aquawatch_readings_too_late_total",
            "aquawatch_readings_failed_total"))
        if durable >= target:
            return durable
        if refused > 0:
            raise RuntimeError("server refused %d readings (see %s)" % (refused, server.log_path))
        for r in senders:
            if r.ready() and not r.successful():
                r.get()  # raises the sender's exception here
        now = time.monotonic()
        if durable != last_value:
            last_value, last_change = durable, now
        elif now - last_change > stall_timeout:
            raise RuntimeError("durable readings stuck at %d of %d for %d s"
                               % (durable, target, stall_timeout))
        if now - last_report >= 10:
            log("  durable %d / %d" % (durable, target))
            last_report = now
        if server.proc.poll() is not None:
            raise RuntimeError("server exited with %d during load" % server.proc.returncode)
        time.sleep(0.5)


# --- the server ---------------------------------------------------------------------------------

def parse_metrics(text):
    """Prometheus text -> {name: [(labels, value)]}; enough for counters, gauges and the
    _sum/_count/_bucket series of histograms."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        name, _, labels = key.partition("{")
        out.setdefault(name, []).append((labels.rstrip("}"), float(value)))
    return out


def metric_sum(metrics, name):
    """Sum over every series of one metric name (e.g. over shards); 0 when absent."""
    return sum(v for _, v in metrics.get(name, []))


class Server:
    """One `aquawatch serve` process on OS-chosen ports (see tests/integration/aqw.py for the
    flags), with its stderr kept in `log_path` and the wall time from spawn to the ready line."""

    def __init__(self, binary, data_dir, log_path, shards, extra=()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.cmd = [binary, "serve", "--data-dir", data_dir, "--http-port", "0", "--tcp-port",
                    "0", "--pipeline-shards", str(shards)] + list(extra)
        self.proc = None
        self.http_port = self.tcp_port = None
        self.ready_seconds = None
        self._conn = None

    def start(self, timeout=1800):
        """Spawns the server and waits for its ready line. Recovery of a large data directory
        happens before that line, hence the long default timeout."""
        os.makedirs(self.data_dir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._log)
        _LIVE_SERVERS.append(self)
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("server not ready after %d s; log: %s"
                                   % (timeout, self.log_path))
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited (%s) before ready:\n%s"
                                   % (self.proc.wait(), tail(self.log_path)))
            if line.startswith(b"{"):
                doc = json.loads(line)
                if doc.get("event") == "ready":
                    self.ready_seconds = time.monotonic() - t0
                    self.http_port, self.tcp_port = doc["http_port"], doc["tcp_port"]
                    return self

    def get(self, path):
        """GET over a kept-alive connection (reopened if the server closed it)."""
        for attempt in (0, 1):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                                            timeout=600)
                    # No Nagle delay on our side: a latency figure must be the server's.
                    self._conn.connect()
                    self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self._conn = None
                if attempt:
                    raise

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, "/metrics -> %d" % status
        return parse_metrics(body.decode())

    def metric_sum(self, name):
        return metric_sum(self.metrics(), name)

    def rss_bytes(self):
        """Resident set size from /proc (what the kernel charges, not what the process thinks)."""
        return proc_status_bytes(self.proc.pid, "VmRSS")

    def stop(self, timeout=1800):
        """SIGTERM: the server stops input, drains and checkpoints every shard. Returns the
        seconds that took; a non-zero exit is an error worth failing the run for."""
        self._close_conn()
        if self.proc is None or self.proc.poll() is not None:
            return None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise RuntimeError("server did not stop within %d s of SIGTERM" % timeout)
        self._forget()
        if rc != 0:
            raise RuntimeError("server exited with %d on SIGTERM:\n%s" % (rc, tail(self.log_path)))
        return time.monotonic() - t0

    def kill9(self):
        """SIGKILL: a crash, nothing flushed beyond what was already synced."""
        self._close_conn()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._forget()

    def _close_conn(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _forget(self):
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


def stop_all_servers():
    """Last-resort cleanup: SIGTERM every server still running, SIGKILL if it hangs."""
    for server in list(_LIVE_SERVERS):
        try:
            log("stopping server pid %d" % server.proc.pid)
            server.stop(timeout=300)
        except Exception as e:  # noqa: BLE001 - cleanup must reach every server
            log("  %s; killing it" % e)
            server.kill9()


def proc_status_bytes(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]
    except OSError:
        return ""


def log_lines(path, pattern):
    """Lines of a server log matching a regex: what the server itself said about recovery,
    checkpoints, errors; quoted in the results."""
    rx = re.compile(pattern)
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f if rx.search(l)]
    except OSError:
        return []


def interesting_log_lines(path):
    """Recovery lines and every warning or error: the things a reader of the figures needs."""
    return log_lines(path, r"recovered in|retention|catalog|\[(warning|error|critical)\]")


def serve_help(binary):
    """`serve --help` text, to find out which config keys can be given as flags."""
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def checkpoint_files(data_dir):
    """{relative path: bytes} of every shard checkpoint (docs/format/checkpoint.md)."""
    files = sorted(glob.glob(os.path.join(data_dir, "wal", "shard-*", "checkpoint-*.ckpt")))
    return {os.path.relpath(p, data_dir): os.path.getsize(p) for p in files}


def du_by_subdir(data_dir):
    """{subdirectory: bytes} via `du -sb`, plus the total: where the disk space goes (log
    segments and checkpoints under wal/, sealed chunks in store/)."""
    entries = sorted(glob.glob(os.path.join(data_dir, "*")) +
                     glob.glob(os.path.join(data_dir, "wal", "shard-*")))
    out = {}
    for path in entries + [data_dir]:
        res = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
        if res.returncode == 0:
            out[os.path.relpath(path, data_dir)] = int(res.stdout.split()[0])
    return out


# --- restart ------------------------------------------------------------------------------------

def restart_measurement(server, label, sensors, replayed):
    """What one restart cost: wall time to ready, the server's own recovery time and counts, and
    the memory it holds afterwards. `sensors` and `replayed` are what it should report: a fast
    restart that lost sensors or skipped the log tail is not a result."""
    m = server.metrics()
    r = {
        "label": label,
        "wall_to_ready_s": round(server.ready_seconds, 3),
        "recovery_seconds": metric_sum(m, "aquawatch_recovery_seconds"),
        "recovery_checkpoint_sensors": int(metric_sum(m, "aquawatch_recovery_checkpoint_sensors")),
        "recovery_readings": int(metric_sum(m, "aquawatch_recovery_readings")),
        "sensors": int(metric_sum(m, "aquawatch_sensors")),
        "rss_bytes": server.rss_bytes(),
        "log": interesting_log_lines(server.log_path),
    }
    r["counts_ok"] = r["sensors"] == sensors and r["recovery_readings"] == replayed
    if not r["counts_ok"]:
        log("  WARNING: expected %d sensors and %d replayed readings" % (sensors, replayed))
    log("  %s: ready after %.2f s wall, recovery_seconds %.3f, %d checkpoint sensors, "
        "%d readings replayed, RSS %.0f MiB"
        % (label, r["wall_to_ready_s"], r["recovery_seconds"], r["recovery_checkpoint_sensors"],
           r["recovery_readings"], r["rss_bytes"] / 2**20))
    return r


def checkpoint_metrics(server):
    """Checkpoints taken by this process so far (the shutdown checkpoint cannot be seen here: the
    process is gone by then)."""
    m = server.metrics()
    return {
        "count": int(metric_sum(m, "aquawatch_checkpoint_seconds_count")),
        "seconds_sum": round(metric_sum(m, "aquawatch_checkpoint_seconds_sum"), 3),
        "newest_bytes_per_shard": [v for _, v in m.get("aquawatch_checkpoint_bytes", [])],
    }


def run_restart(args, root):
    """Section 1: load, then restarts (a) clean, (b) crash with a log tail, (c) crash without any
    checkpoint. Returns the results dict."""
    n, k = args.sensors, args.readings
    res = {"sensors": n, "readings_per_sensor": k, "parameters": len(PARAMS),
           "shards": args.shards, "senders": args.senders}
    help_text = serve_help(args.binary)
    data = os.path.join(root, "restart-data")
    logs = os.path.join(root, "logs")

    def server(step, data_dir=data, extra=()):
        return Server(args.binary, data_dir, os.path.join(logs, "restart-%s.log" % step),
                      args.shards, extra)

    # Load.
    log("restart: starting a fresh server in %s" % data)
    s = server("1-load").start()
    res["empty_rss_bytes"] = s.rss_bytes()
    first_ns = (int(time.time()) - k * READING_INTERVAL_S) * NS
    log("restart: loading %d sensors x %d readings x %d parameters over %d connections"
        % (n, k, len(PARAMS), args.senders))
    lines, size, seconds = load_fleet(s, list(range(n)), first_ns, k, args.senders)
    res["load"] = {"lines": lines, "bytes": size, "seconds": round(seconds, 2),
                   "readings_per_s": round(lines / seconds), "values_per_s":
                   round(lines * len(PARAMS) / seconds)}
    log("restart: loaded %d lines (%.0f MiB) in %.1f s (%.0f readings/s)"
        % (lines, size / 2**20, seconds, lines / seconds))
    res["loaded_rss_bytes"] = s.rss_bytes()
    res["loaded_hwm_bytes"] = proc_status_bytes(s.proc.pid, "VmHWM")
    res["rss_per_sensor_bytes"] = round(res["loaded_rss_bytes"] / n, 1)
    res["rss_per_sensor_above_empty_bytes"] = round(
        (res["loaded_rss_bytes"] - res["empty_rss_bytes"]) / n, 1)
    res["load_checkpoints"] = checkpoint_metrics(s)
    res["disk_after_load"] = du_by_subdir(data)

    # (a) clean stop, start: checkpoints only.
    log("restart (a): SIGTERM (checkpoint at stop)")
    res["a_stop_seconds"] = round(s.stop(), 3)
    res["checkpoints_after_clean_stop"] = checkpoint_files(data)
    res["disk_after_clean_stop"] = du_by_subdir(data)
    log("restart (a): checkpoints %s" % res["checkpoints_after_clean_stop"])
    s = server("2-a-clean-restart").start()
    res["a"] = restart_measurement(s, "a: clean stop -> start (checkpoints)", n, 0)

    # (b) small extra load on the restarted server, kill -9, start: checkpoint + log tail.
    tail_sensors = list(range(0, n, 10))
    log("restart (b): one more reading for %d sensors, then kill -9" % len(tail_sensors))
    tail_ns = int(time.time()) * NS
    lines, _, seconds = load_fleet(s, tail_sensors, tail_ns, 1, args.senders)
    res["b_tail_load"] = {"lines": lines, "seconds": round(seconds, 2)}
    s.kill9()
    res["checkpoints_before_b"] = checkpoint_files(data)
    s = server("3-b-crash-restart").start()
    res["b"] = restart_measurement(s, "b: kill -9 -> start (checkpoints + log tail)", n, lines)
    log("restart (b): stopping")
    s.stop()
    res["disk_after_b"] = du_by_subdir(data)

    # (c) a server that never checkpoints: load, kill -9, start = the whole log replayed.
    if "--store-checkpoint-mb" in help_text and "--store-checkpoint-interval" in help_text:
        data_c = os.path.join(root, "restart-data-nockpt")
        no_ckpt = ["--store-checkpoint-mb", "1048576", "--store-checkpoint-interval", "3650d"]
        res["c_flags"] = no_ckpt
        log("restart (c): fresh server without checkpoints (%s)" % " ".join(no_ckpt))
        s = server("4-c-load", data_c, no_ckpt).start()
        first_ns = (int(time.time()) - k * READING_INTERVAL_S) * NS
        lines, size, seconds = load_fleet(s, list(range(n)), first_ns, k, args.senders)
        res["c_load"] = {"lines": lines, "seconds": round(seconds, 2)}
        res["c_load_checkpoints"] = checkpoint_metrics(s)
        s.kill9()
        res["checkpoints_before_c"] = checkpoint_files(data_c)
        res["disk_before_c"] = du_by_subdir(data_c)
        s = server("5-c-crash-restart", data_c, no_ckpt).start()
        res["c"] = restart_measurement(s, "c: kill -9 -> start (full log replay)", n, lines)
        log("restart (c): stopping")
        # Killed, not stopped: a clean stop would write a 1M-sensor checkpoint nobody reads.
        s.kill9()
    else:
        res["c_skipped"] = ("serve --help lists no --store-checkpoint-mb / "
                            "--store-checkpoint-interval flag")
        log("restart (c): skipped: " + res["c_skipped"])
    return res


def restart_markdown(res):
    """The restart section as Markdown tables."""
    n = res["sensors"]
    mib = lambda b: "%.1f" % (b / 2**20) if b is not None else "-"  # noqa: E731
    out = ["## Restart: %d sensors x %d parameters x %d readings, %d shards"
           % (n, res["parameters"], res["readings_per_sensor"], res["shards"]), ""]
    ld = res["load"]
    out += ["| load | value |", "|---|---|",
            "| lines (readings) | %d |" % ld["lines"],
            "| line-protocol MiB | %s |" % mib(ld["bytes"]),
            "| load seconds (to durable) | %.1f |" % ld["seconds"],
            "| readings/s | %d |" % ld["readings_per_s"],
            "| values/s | %d |" % ld["values_per_s"],
            "| RSS empty / loaded MiB | %s / %s |" % (mib(res["empty_rss_bytes"]),
                                                    mib(res["loaded_rss_bytes"])),
            "| RSS per sensor (total / above empty) | %.0f B / %.0f B |"
            % (res["rss_per_sensor_bytes"], res["rss_per_sensor_above_empty_bytes"]),
            "| checkpoints during load (count, s total) | %d, %.3f |"
            % (res["load_checkpoints"]["count"], res["load_checkpoints"]["seconds_sum"]),
            "| clean stop (SIGTERM to exit, incl. checkpoint) s | %.2f |" % res["a_stop_seconds"],
            ""]
    out += ["| restart | wall to ready s | recovery_seconds | checkpoint sensors | "
            "readings replayed | sensors | RSS MiB |", "|---|---|---|---|---|---|---|"]
    for key in ("a", "b", "c"):
        if key not in res:
            continue
        r = res[key]
        out.append("| %s | %.2f | %.3f | %d | %d | %d | %s |"
                   % (r["label"], r["wall_to_ready_s"], r["recovery_seconds"],
                      r["recovery_checkpoint_sensors"], r["recovery_readings"], r["sensors"],
                      mib(r["rss_bytes"])))
    if "c_skipped" in res:
        out.append("| c | skipped: %s | | | | | |" % res["c_skipped"])
    out += ["", "| checkpoint file (after clean stop) | MiB | bytes/sensor (even split assumed) |",
            "|---|---|---|"]
    for path, size in res["checkpoints_after_clean_stop"].items():
        out.append("| %s | %s | %.0f |" % (path, mib(size), size / (n / res["shards"])))
    for title, key in (("after load", "disk_after_load"),
                       ("after clean stop", "disk_after_clean_stop"),
                       ("after (b)", "disk_after_b"), ("(c) before restart", "disk_before_c")):
        if key not in res:
            continue
        out += ["", "| data dir %s | MiB |" % title, "|---|---|"]
        out += ["| %s | %s |" % (p, mib(b)) for p, b in res[key].items()]
    out.append("")
    return "\n".join(out)


# --- query --------------------------------------------------------------------------------------

def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (no interpolation: p99 of 200 runs is
    the 198th value, an observed latency)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


def time_query(server, path, runs, count_points):
    """Runs one query `runs` times over the server's keep-alive connection; returns latency
    figures (client side: request sent to body read, JSON parsing excluded) and the points the
    last answer held. The first request is timed separately: it may pay for cold caches."""
    t0 = time.perf_counter()
    status, body = server.get(path)
    first_ms = (time.perf_counter() - t0) * 1000
    assert status == 200, "%s -> %d %s" % (path, status, body[:300])
    points = count_points(json.loads(body))
    lat = []
    for _ in range(runs):
        t0 = time.perf_counter()
        status, body = server.get(path)
        lat.append((time.perf_counter() - t0) * 1000)
        assert status == 200, "%s -> %d" % (path, status)
    lat.sort()
    return {"path": path, "runs": runs, "first_ms": round(first_ms, 3),
            "p50_ms": round(percentile(lat, 50), 3), "p99_ms": round(percentile(lat, 99), 3),
            "max_ms": round(lat[-1], 3), "mean_ms": round(sum(lat) / len(lat), 3),
            "points": points, "response_bytes": len(body)}


def points_per_series(doc):
    """[points of series 0, points of series 1, ...] of a readings answer."""
    return [len(s["points"]) for s in doc["series"]]


def buckets_between(first_ns, last_ns, step_s):
    """Step-aligned buckets holding at least one sample, when samples are denser than the step:
    every bucket from the first sample's to the last one's."""
    step = step_s * NS
    return last_ns // step - first_ns // step + 1


def run_query(args, root):
    """Section 2: one sensor-day at 10 s and (optionally) a sensor-year at 10 min, then 200 timed
    runs of three queries. Returns the results dict."""
    data = os.path.join(root, "query-data")
    s = Server(args.binary, data, os.path.join(root, "logs", "query.log"), args.shards).start()
    res = {"days": args.days, "year": args.year, "runs": args.runs}
    end_s = int(time.time())

    day_n = args.days * 86400 // READING_INTERVAL_S
    day_first = (end_s - (day_n - 1) * READING_INTERVAL_S) * NS
    day_last = end_s * NS
    log("query: loading %d readings of sensor q-day" % day_n)
    t0 = time.monotonic()
    before = s.metric_sum("aquawatch_readings_durable_total")
    sent, _ = send_lines(s.tcp_port, series_lines("q-day", day_first, day_n, READING_INTERVAL_S, 1))
    expected = sent

    year_interval = 600
    year_n = 365 * 86400 // year_interval
    year_first = (end_s - (year_n - 1) * year_interval) * NS
    year_last = end_s * NS
    if args.year:
        log("query: loading %d readings of sensor q-year (one per 10 min, 365 days)" % year_n)
        sent, _ = send_lines(s.tcp_port,
                             series_lines("q-year", year_first, year_n, year_interval, 2))
        expected += sent
    wait_durable(s, before + expected)
    res["load_seconds"] = round(time.monotonic() - t0, 2)
    res["loaded_readings"] = expected
    res["rss_bytes"] = s.rss_bytes()

    ms = lambda ns: ns // 1_000_000  # noqa: E731 - epoch milliseconds for the query string
    queries = []
    # (a) raw, one parameter, the whole sensor-day: every sample back.
    queries.append(("a: raw ph, sensor-day",
                    "/api/v1/sensors/q-day/readings?parameter=ph&from=%d&to=%d"
                    % (ms(day_first), ms(day_last)),
                    [day_n]))
    # (b) one parameter, a year at 1 h: answered from the 1-hour roll-ups.
    if args.year:
        queries.append(("b: ph year, step=1h agg=avg",
                        "/api/v1/sensors/q-year/readings?parameter=ph&from=%d&to=%d&step=1h&agg=avg"
                        % (ms(year_first), ms(year_last)),
                        [buckets_between(year_first, year_last, 3600)]))
    # (c) all six parameters of the sensor-day at 1 min: the 1-minute roll-ups.
    queries.append(("c: 6 params sensor-day, step=1m agg=avg",
                    "/api/v1/sensors/q-day/readings?parameter=%s&from=%d&to=%d&step=1m&agg=avg"
                    % (",".join(PARAM_NAMES), ms(day_first), ms(day_last)),
                    [buckets_between(day_first, day_last, 60)] * len(PARAMS)))
    res["queries"] = []
    for label, path, expected_points in queries:
        log("query: %d runs of %s" % (args.runs, label))
        r = time_query(s, path, args.runs, points_per_series)
        r["label"] = label
        r["expected_points"] = expected_points
        r["points_ok"] = r["points"] == expected_points
        res["queries"].append(r)
        log("  p50 %.2f ms, p99 %.2f ms, max %.2f ms, points %s (expected %s)"
            % (r["p50_ms"], r["p99_ms"], r["max_ms"], r["points"], expected_points))
    res["rss_after_queries_bytes"] = s.rss_bytes()
    res["log"] = interesting_log_lines(s.log_path)
    s.stop()
    res["disk"] = du_by_subdir(data)
    bad = [q["label"] for q in res["queries"] if not q["points_ok"]]
    if bad:
        # Reported, and the run fails at the end: latency of a wrong answer means nothing.
        res["point_count_mismatch"] = bad
    return res


def query_markdown(res):
    """The query section as a Markdown table."""
    out = ["## Query latency: %d runs each, one keep-alive HTTP connection" % res["runs"], "",
           "Loaded %d readings x %d parameters in %.1f s."
           % (res["loaded_readings"], len(PARAMS), res["load_seconds"]), "",
           "| query | first ms | p50 ms | p99 ms | max ms | points | expected | response KiB |",
           "|---|---|---|---|---|---|---|---|"]
    for q in res["queries"]:
        pts = q["points"] if len(q["points"]) > 1 else q["points"][0]
        exp = q["expected_points"] if len(q["expected_points"]) > 1 else q["expected_points"][0]
        if len(q["points"]) > 1 and len(set(q["points"])) == 1:
            pts = "%d x %d" % (len(q["points"]), q["points"][0])
            exp = "%d x %d" % (len(q["expected_points"]), q["expected_points"][0])
        out.append("| %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %.0f |"
                   % (q["label"], q["first_ms"], q["p50_ms"], q["p99_ms"], q["max_ms"], pts, exp,
                      q["response_bytes"] / 1024))
    out.append("")
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------

def git_commit(repo):
    """HEAD of the repository (read-only), so a figure can be traced to the code it measured."""
    try:
        return subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def git_dirty(repo):
    """Whether tracked files differ from HEAD: then the binary may not be HEAD's code."""
    try:
        out = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, check=True).stdout
        return bool(out.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


def all_server_logs(root):
    """{log file: recovery lines, warnings and errors} of every server this run started,
    collected before the temporary directory goes away."""
    logs = sorted(glob.glob(os.path.join(root, "logs", "*.log")))
    return {os.path.basename(p): interesting_log_lines(p) for p in logs}


def host_info():
    """CPU count and memory: restart and load figures mean little without them."""
    info = {"cpus": os.cpu_count()}
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--binary", default="build/release/aquawatch")
    common.add_argument("--shards", type=int, default=2)
    common.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    common.add_argument("--out-dir", default="build/bench-results",
                        help="where `all` writes its JSON")
    restart = argparse.ArgumentParser(add_help=False)
    restart.add_argument("--sensors", type=int, default=1_000_000)
    restart.add_argument("--readings", type=int, default=3, help="readings per sensor, 10 s apart")
    restart.add_argument("--senders", type=int, default=SENDERS,
                         help="parallel TCP connections (one process each)")
    query = argparse.ArgumentParser(add_help=False)
    query.add_argument("--days", type=int, default=1, help="days of the 10 s sensor")
    query.add_argument("--year", action=argparse.BooleanOptionalAction, default=True,
                       help="also load a year of one sensor at 10 min (the 1-hour roll-up path)")
    query.add_argument("--runs", type=int, default=200)
    sub.add_parser("restart", parents=[common, restart])
    sub.add_parser("query", parents=[common, query])
    sub.add_parser("all", parents=[common, restart, query])
    return p.parse_args(argv)


def _sigterm_to_exception(signum, frame):
    """SIGTERM to the benchmark behaves like Ctrl-C: unwind, stop the servers, clean up."""
    raise KeyboardInterrupt("SIGTERM")


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_to_exception)
    # Also when started in the background, where SIGINT is inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args.binary = os.path.abspath(args.binary)
    if not os.access(args.binary, os.X_OK):
        sys.exit("no executable at %s" % args.binary)
    root = tempfile.mkdtemp(prefix="aqw-store-bench-")
    os.makedirs(os.path.join(root, "logs"))
    log("working directory %s" % root)
    started = time.gmtime()
    results = {"command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
               "git_commit": git_commit(repo), "git_dirty": git_dirty(repo),
               "binary": args.binary,
               "binary_mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                             time.gmtime(os.path.getmtime(args.binary))),
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", started), "host": host_info(),
               "work_dir": root}
    failed = None
    try:
        if args.command in ("restart", "all"):
            results["restart"] = run_restart(args, root)
            print(restart_markdown(results["restart"]), flush=True)
        if args.command in ("query", "all"):
            results["query"] = run_query(args, root)
            print(query_markdown(results["query"]), flush=True)
            if "point_count_mismatch" in results["query"]:
                failed = "point counts differ from expected: %s" % (
                    results["query"]["point_count_mismatch"])
    except KeyboardInterrupt:
        failed = "interrupted"
        log("interrupted")
    except Exception as e:  # noqa: BLE001 - write what we have, then fail
        failed = "%s: %s" % (type(e).__name__, e)
        log("FAILED: " + failed)
    finally:
        stop_all_servers()
        results["server_logs"] = all_server_logs(root)
        problems = [(name, line) for name, lines in results["server_logs"].items()
                    for line in lines if re.search(r"\[(warning|error|critical)\]", line)]
        for name, line in problems:
            log("server log %s: %s" % (name, line))
        if args.keep:
            log("kept %s (server logs in %s/logs)" % (root, root))
        elif failed:
            # The data can be gigabytes; the server logs are what explains a failure.
            for entry in os.listdir(root):
                if entry != "logs":
                    shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
            log("removed the data, kept the server logs in %s/logs" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if failed:
        results["error"] = failed
    if args.command == "all":
        out_dir = os.path.join(repo, args.out_dir)  # an absolute --out-dir stays as it is
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "store-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", started))
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        log("wrote %s" % path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

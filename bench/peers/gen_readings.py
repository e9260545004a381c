#!/usr/bin/env python3
"""Readings for bench/peers/compare-storage.sh (Python standard library only).

  gen_readings.py gecco --input gecco2018_train.csv --out DIR
  gen_readings.py sim   --sensors N --hours H [--interval S] [--seed S] --out DIR
  gen_readings.py post  --url URL --file readings.lp [--batch 5000] --result FILE

`gecco` and `sim` write the same readings twice, so every store is fed identical data:
  DIR/readings.csv  rows for PostgreSQL COPY (FORMAT csv): sensor_id,time,<7 parameters>,
                    an empty cell is NULL
  DIR/readings.lp   InfluxDB line protocol: measurement `water`, tag `sensor`, one float field
                    per present parameter, nanosecond timestamps
  DIR/meta.json     rows, values (non-null parameter cells), sensors, time range, file sizes
`post` sends a line-protocol file over HTTP in batches, retrying a batch answered with 429, and
writes what it did (lines, batches, seconds, retries) to a JSON file.
"""

import argparse
import calendar
import http.client
import json
import math
import os
import random
import sys
import time
import urllib.parse

# Canonical parameter names (src/core/reading.cc), in the column order of the PostgreSQL table.
PARAMS = ["ph", "turbidity_ntu", "dissolved_oxygen_mg_l", "temperature_c",
          "conductivity_us_cm", "free_chlorine_mg_l", "orp_mv"]

# GECCO 2018 column -> canonical parameter. Cl_2 (second chlorine sensor) and the flows Fm, Fm_2
# have no canonical parameter and are left out.
GECCO_MAP = {"Tp": "temperature_c", "Cl": "free_chlorine_mg_l", "pH": "ph", "Redox": "orp_mv",
             "Leit": "conductivity_us_cm", "Trueb": "turbidity_ntu"}
GECCO_SENSOR = "gecco-2018"


class Writer:
    """Writes one reading to both files and keeps the counts for meta.json."""

    def __init__(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir = out_dir
        # Large buffers: the sim default is ~8.6 M rows, and small writes would dominate.
        self.csv = open(os.path.join(out_dir, "readings.csv"), "w", buffering=1 << 20)
        self.lp = open(os.path.join(out_dir, "readings.lp"), "w", buffering=1 << 20)
        self.rows = 0
        self.values = 0
        self.sensors = set()
        self.first_ns = None
        self.last_ns = None

    def write(self, sensor, iso_time, time_ns, cells):
        """cells: one value as text (exactly as it will be stored) or None per PARAMS entry."""
        present = [(p, v) for p, v in zip(PARAMS, cells) if v is not None]
        if not present:
            return  # line protocol needs at least one field; keep all stores identical
        self.csv.write(f"{sensor},{iso_time},{','.join(v or '' for v in cells)}\n")
        fields = ",".join(f"{p}={v}" for p, v in present)
        self.lp.write(f"water,sensor={sensor} {fields} {time_ns}\n")
        self.rows += 1
        self.values += len(present)
        self.sensors.add(sensor)
        if self.first_ns is None or time_ns < self.first_ns:
            self.first_ns = time_ns
        if self.last_ns is None or time_ns > self.last_ns:
            self.last_ns = time_ns

    def close(self, **extra):
        self.csv.close()
        self.lp.close()
        meta = {
            "rows": self.rows,
            "values": self.values,
            "sensors": len(self.sensors),
            "first_time": _iso(self.first_ns),
            "last_time": _iso(self.last_ns),
            "csv_bytes": os.path.getsize(os.path.join(self.out_dir, "readings.csv")),
            "line_protocol_bytes": os.path.getsize(os.path.join(self.out_dir, "readings.lp")),
        }
        meta.update(extra)
        with open(os.path.join(self.out_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        return meta


def _iso(ns):
    if ns is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


def _is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def gecco(args):
    w = Writer(args.out)
    skipped_cells = 0
    with open(args.input, newline="") as f:
        header = f.readline().strip().split(",")
        col = {name: i for i, name in enumerate(header)}
        missing = [c for c in ["Time", *GECCO_MAP] if c not in col]
        if missing:
            sys.exit(f"gen_readings: {args.input} has no column(s) {missing}")
        # Index of the source column feeding each canonical parameter (None: not in GECCO).
        source_of = {p: None for p in PARAMS}
        for src, p in GECCO_MAP.items():
            source_of[p] = col[src]
        for line in f:
            parts = line.rstrip("\r\n").split(",")
            if len(parts) < len(header):
                continue
            stamp = parts[col["Time"]]  # e.g. 2016-08-03T09:49:00Z, UTC
            t = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
            cells = []
            for p in PARAMS:
                i = source_of[p]
                if i is None:
                    cells.append(None)
                    continue
                v = parts[i]
                if v == "NA" or v == "" or not _is_number(v):
                    skipped_cells += 1
                    cells.append(None)
                else:
                    # Kept as written in the file, so every store parses the same decimal text.
                    cells.append(v)
            w.write(GECCO_SENSOR, stamp, t * 1_000_000_000, cells)
    meta = w.close(source="gecco", input=os.path.abspath(args.input),
                   parameters=sorted(GECCO_MAP.values()), skipped_na_cells=skipped_cells)
    print(json.dumps(meta))


# Simulated fleet: per-sensor base level, diurnal amplitude and phase, Gaussian noise; values
# quantised to the sensor resolution (decimals below), as real instruments report them.
#            parameter              base range      diurnal amp    noise sd  decimals  floor
SIM_MODEL = [("ph",                 (7.0, 8.2),     (0.03, 0.12),  0.01,     2,        0.0),
             ("turbidity_ntu",      (0.05, 0.6),    (0.01, 0.08),  0.01,     2,        0.0),
             ("dissolved_oxygen_mg_l", (7.0, 10.5), (0.2, 0.8),    0.03,     2,        0.0),
             ("temperature_c",      (8.0, 22.0),    (0.3, 1.5),    0.05,     1,        0.0),
             ("conductivity_us_cm", (150.0, 900.0), (2.0, 15.0),   1.0,      0,        1.0),
             ("free_chlorine_mg_l", (0.3, 1.2),     (0.03, 0.15),  0.01,     2,        0.0)]


def sim(args):
    rng = random.Random(args.seed)
    w = Writer(args.out)
    width = max(4, len(str(args.sensors)))
    start = calendar.timegm((2024, 1, 1, 0, 0, 0))  # fixed, so the output is reproducible
    sensors = []
    for i in range(args.sensors):
        model = []
        for name, (lo, hi), (alo, ahi), sd, dec, floor in SIM_MODEL:
            model.append((rng.uniform(lo, hi), rng.uniform(alo, ahi), sd, dec, floor))
        # A sensor's diurnal cycle is shifted a little (shade, depth, pumping schedule).
        phase = rng.uniform(-0.5, 0.5)
        sensors.append((f"sim-{i + 1:0{width}d}", phase, model))
    fmt = ["{:.%df}" % m[4] for m in SIM_MODEL]
    steps = int(args.hours * 3600 // args.interval)
    two_pi_day = 2.0 * math.pi / 86400.0
    gauss = rng.gauss
    for k in range(steps):
        t = start + k * args.interval
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        ns = t * 1_000_000_000
        day_angle = t * two_pi_day
        # Readings arrive time-major (every sensor at t, then t + interval), as from a fleet.
        for sid, phase, model in sensors:
            s = math.sin(day_angle + phase)
            cells = []
            for (base, amp, sd, dec, floor), f in zip(model, fmt):
                v = base + amp * s + gauss(0.0, sd)
                if v < floor:
                    v = floor
                cells.append(f.format(v))
            cells.append(None)  # orp_mv: not measured by the simulated sensors
            w.write(sid, iso, ns, cells)
    meta = w.close(source="sim", seed=args.seed, interval_s=args.interval, hours=args.hours,
                   parameters=[m[0] for m in SIM_MODEL])
    print(json.dumps(meta))


def post(args):
    """POST the file in batches of args.batch lines over one keep-alive connection."""
    url = urllib.parse.urlsplit(args.url)
    path = url.path + ("?" + url.query if url.query else "")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    lines = batches = retries = 0
    sent_bytes = 0
    status_counts = {}

    def send(body):
        nonlocal retries, conn
        while True:
            try:
                conn.request("POST", path, body=body,
                             headers={"Content-Type": "text/plain; charset=utf-8"})
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException) as e:
                sys.exit(f"gen_readings post: {args.url}: {e}")
            status_counts[resp.status] = status_counts.get(resp.status, 0) + 1
            if resp.status == 429:
                # Backpressure: nothing of the batch was stored; wait a little and resend it.
                retries += 1
                time.sleep(args.retry_sleep)
                continue
            if resp.status // 100 != 2:
                sys.exit(f"gen_readings post: {args.url} answered {resp.status}: "
                         f"{data[:500].decode(errors='replace')}")
            return

    start = time.monotonic()
    with open(args.file, "rb") as f:
        batch = []
        for line in f:
            batch.append(line)
            if len(batch) == args.batch:
                body = b"".join(batch)
                send(body)
                lines += len(batch)
                sent_bytes += len(body)
                batches += 1
                batch = []
        if batch:
            body = b"".join(batch)
            send(body)
            lines += len(batch)
            sent_bytes += len(body)
            batches += 1
    seconds = time.monotonic() - start
    conn.close()
    result = {"lines": lines, "batches": batches, "bytes": sent_bytes, "seconds": seconds,
              "retries_429": retries,
              "statuses": {str(k): v for k, v in sorted(status_counts.items())}}
    with open(args.result, "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gecco", help="GECCO 2018 CSV -> readings of one sensor")
    g.add_argument("--input", required=True)
    g.add_argument("--out", required=True)
    s = sub.add_parser("sim", help="synthetic fleet")
    s.add_argument("--sensors", type=int, default=1000)
    s.add_argument("--hours", type=float, default=24)
    s.add_argument("--interval", type=int, default=10, help="seconds between readings")
    s.add_argument("--seed", type=int, default=20240101)
    s.add_argument("--out", required=True)
    q = sub.add_parser("post", help="POST a line-protocol file in batches")
    q.add_argument("--url", required=True)
    q.add_argument("--file", required=True)
    q.add_argument("--batch", type=int, default=5000)
    q.add_argument("--retry-sleep", type=float, default=0.05)
    q.add_argument("--result", required=True)
    args = p.parse_args()
    {"gecco": gecco, "sim": sim, "post": post}[args.cmd](args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)  # Ctrl-C: the calling script cleans up; no traceback

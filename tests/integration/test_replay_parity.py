"""`aquawatch replay` and the live server run the same detection engine: fed the same readings
(a CSV to replay, JSON over HTTP to the server), they open the same events at the same rows."""

import csv
import datetime
import os
import random
import subprocess
import tempfile

import aqw

T0_MS = 1_764_000_000_000  # 2025-11-24T16:00:00Z
STEP_MS = 60_000


def make_series(n=900, seed=5):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        chlorine, turbidity, ph, cond = 0.8, 0.12, 7.30, 450.0
        if 400 <= i < 425:  # contamination: chlorine down, turbidity and conductivity up
            chlorine, turbidity, cond = 0.35, 0.7, 560.0
        if 700 <= i < 712:  # a pH excursion alone
            ph = 7.85
        rows.append({
            "t": T0_MS + i * STEP_MS,
            "ph": round(round((ph + rng.gauss(0, 0.01)) / 0.01) * 0.01, 2),
            "free_chlorine_mg_l": round(round((chlorine + rng.gauss(0, 0.01)) / 0.01) * 0.01, 2),
            "turbidity_ntu": round(round((turbidity + rng.gauss(0, 0.005)) / 0.01) * 0.01, 2),
            "conductivity_us_cm": round(cond + rng.gauss(0, 2)),
        })
    return rows


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def live_openings(event_flags, window=10):
    """The server's rule: open at an event row when none is open; close after `window` rows
    without one."""
    opened, in_event, quiet = [], False, 0
    for i, flag in enumerate(event_flags):
        if flag:
            quiet = 0
            if not in_event:
                in_event = True
                opened.append(i)
        elif in_event:
            quiet += 1
            if quiet >= window:
                in_event = False
    return opened


def test_replay_and_live_open_the_same_events(binary):
    rows = make_series()
    params = ["ph", "free_chlorine_mg_l", "turbidity_ntu", "conductivity_us_cm"]
    work = tempfile.mkdtemp(prefix="aqw-parity-")
    csv_path = os.path.join(work, "series.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time"] + params)
        for r in rows:
            w.writerow([iso(r["t"])] + [r[p] for p in params])
    out_path = os.path.join(work, "rows.csv")
    subprocess.run([binary, "replay", "--input", csv_path, "--output", out_path], check=True,
                   capture_output=True, timeout=60)
    with open(out_path) as f:
        flags = [row["event"] == "1" for row in csv.DictReader(f)]
    assert len(flags) == len(rows)
    expected = [iso(rows[i]["t"]) for i in live_openings(flags)]
    assert len(expected) >= 2, "the series should produce events: %s" % expected

    s = aqw.Server(binary).start()
    try:
        for start in range(0, len(rows), 100):  # in order, batch by batch
            batch = [{"sensor": "parity-1", "time": r["t"],
                      "values": {p: r[p] for p in params}} for r in rows[start:start + 100]]
            status, body = s.post_json("/api/v1/readings", {"readings": batch})
            assert status == 200, body
        alerts = s.get_json("/api/v1/alerts?state=all&sensor=parity-1")["alerts"]
        events = sorted(a["opened_at"] for a in alerts if a["kind"] == "event")
        assert events == expected, "live %s != replay %s" % (events, expected)
        kinds = {a["opened_at"]: a["classification"] for a in alerts if a["kind"] == "event"}
        assert kinds[expected[0]] == "probable_contamination", kinds
        print("  both opened %d events at %s" % (len(events), ", ".join(events)))
        s.stop()
    finally:
        s.cleanup()


if __name__ == "__main__":
    aqw.run([test_replay_and_live_open_the_same_events])

#!/usr/bin/env python3
"""Time-split tuning of the detector on GECCO 2018: choose settings on the earlier months, then
report them on the later months (never used for choosing) and on the 2017 file, untouched.

    bench/detect/tune_gecco.py --binary build/release/aquawatch [--data ../shared/data]

Coarse grid search, two replays at a time. Prints the best settings by tuning-period F1 and
their held-out scores."""

import argparse
import concurrent.futures
import itertools
import json
import os
import subprocess
import tempfile

SPLIT = "2016-10-01T00:00:00Z"  # Aug-Sep: tuning; Oct-Nov: held out

GRID = {
    "outlier_z": [5, 6, 8],
    "window": [10, 20],
    "outlier_rate": [0.05, 0.1],
    "event_probability": [0.9, 0.99],
    "baseline_alpha": [0.005],
    "resolution_floor": [2],
    "daily_days": [0, 3],
    "strong_z": [0, 30],
    "rebaseline_after": [0, 60, 120, 240, 480],
}


def replay(binary, path, settings, score_from=None, score_to=None):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [binary, "replay", "--input", path, "--labels", "EVENT", "--json", out]
    for k, v in settings.items():
        cmd += ["--set", "%s=%s" % (k, v)]
    if score_from:
        cmd += ["--score-from", score_from]
    if score_to:
        cmd += ["--score-to", score_to]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(out) as f:
        doc = json.load(f)
    os.unlink(out)
    return doc


def f1(doc):
    return doc["f1"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/data"))
    args = p.parse_args()
    train = os.path.join(args.data, "gecco2018_train.csv")
    other = os.path.join(args.data, "gecco_waterDataTraining_122k.csv")
    keys = list(GRID)
    combos = [dict(zip(keys, values)) for values in itertools.product(*GRID.values())]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: (s, replay(args.binary, train, s, score_to=SPLIT)),
                                combos))
    results.sort(key=lambda r: f1(r[1]), reverse=True)
    print("%d settings tried on %s before %s" % (len(results), os.path.basename(train), SPLIT))
    for settings, doc in results[:5]:
        held = replay(args.binary, train, settings, score_from=SPLIT)
        print(json.dumps(settings))
        print("  tuning F1 %.3f | held-out F1 %.3f (P %.3f R %.3f, events %d/%d, "
              "median delay %s rows, %.2f false alarms/day)"
              % (f1(doc), f1(held), held["precision"], held["recall"], held["events_detected"],
                 held["events"], held["median_delay_rows"], held["false_alarms_per_day"]))
    best = results[0][0]
    whole = replay(args.binary, train, best)
    untouched = replay(args.binary, other, best)
    print("best settings: " + json.dumps(best))
    print("  gecco2018_train in-sample (all months) F1 %.3f" % f1(whole))
    print("  gecco_waterDataTraining_122k (untouched) F1 %.3f (P %.3f R %.3f, events %d/%d)"
          % (f1(untouched), untouched["precision"], untouched["recall"],
             untouched["events_detected"], untouched["events"]))


if __name__ == "__main__":
    main()

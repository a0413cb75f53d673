"""Benchmark: coding one Referral Form, side by side with python-docx's own open + save.

    python3 bench/bench_coding.py [--repeat 30]

For each sample (S01-S08, P01-P12) and in one run, it times

* the floor: ``docx.Document(BytesIO(data))`` then ``.save(BytesIO())``, python-docx's own round trip;
* mailbot's coding as intake does it: open and read the form (with the names the text introduces),
  strip every form of every name, serialise, verify, and the recall check (with one SurfaceCache for
  the run, as the daemon's Context keeps one);

and prints the medians, p95 and the ratio (target: coding under 2x the floor). A form that is
refused or held is timed to the point where it stops, and marked.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docx  # noqa: E402

from mailbot.documents.coding import code_document, codes_for, recall_check  # noqa: E402
from mailbot.documents.part_surface import SurfaceCache  # noqa: E402
from mailbot.errors import MailbotError  # noqa: E402
from mailbot.documents.referral import read_referral, recall_allowed  # noqa: E402

#: what coding read of large parts (styles, themes), kept for the run as the daemon's Context keeps it
SURFACES = SurfaceCache()
SAMPLES = sorted((ROOT / "tests" / "fixtures" / "samples").glob("[SP][0-9][0-9]-*.docx"))


def floor_once(data: bytes) -> float:
    t0 = time.perf_counter()
    d = docx.Document(io.BytesIO(data))
    d.save(io.BytesIO())
    return (time.perf_counter() - t0) * 1000


def code_once(data: bytes) -> tuple[float, str]:
    t0 = time.perf_counter()
    status = "coded"
    try:
        pkg, referral = read_referral(data)
        children = referral.young_people
        out = code_document(pkg, children, referral.protected_family(),
                            codes_for("CN78", len(children)), filename="CN78-coded-referral.docx",
                            surfaces=SURFACES)
        recall_check(out, recall_allowed(referral))
    except MailbotError as exc:
        status = exc.reason
    return (time.perf_counter() - t0) * 1000, status


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    rows, all_floor, all_code = [], [], []
    for path in SAMPLES:
        data = path.read_bytes()
        floor_once(data)
        code_once(data)  # warm-up: imports, lexicons loaded once per process, regex caches
        floors, codes, status = [], [], ""
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            floors.append(floor_once(data))
            ms, status = code_once(data)
            codes.append(ms)
        all_floor.extend(floors)
        all_code.extend(codes)
        f, c = statistics.median(floors), statistics.median(codes)
        rows.append((path.stem[:28], f, c, p95(codes), c / f, status))
    print(f"{'sample':<30}{'docx open+save':>15}{'mailbot coding':>15}{'coding p95':>11}{'ratio':>7}  result")
    for name, f, c, high, ratio, status in rows:
        print(f"{name:<30}{f:>12.1f} ms{c:>12.1f} ms{high:>8.1f} ms{ratio:>7.2f}  {status}")
    f, c = statistics.median(all_floor), statistics.median(all_code)
    ratios = [r[4] for r in rows]
    print(f"{'ALL (' + str(len(all_code)) + ' runs each)':<30}{f:>12.1f} ms{c:>12.1f} ms{p95(all_code):>8.1f} ms"
          f"{c / f:>7.2f}")
    print(f"worst sample ratio {max(ratios):.2f}; target under 2x the floor: "
          f"{'met' if c / f < 2 else 'NOT met'} (median of all runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: time to code one Referral Form (read+parse, strip, verify, save to bytes).

    python3 bench/bench_coding.py [--repeat 30]

Prints one row per sample (median and p95 in milliseconds, over --repeat runs after
one warm-up) and an overall row. Target: overall median < 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.coding import code_document, codes_for  # noqa: E402
from mailbot.referral import read_referral  # noqa: E402

SAMPLES = sorted((ROOT / "tests" / "fixtures" / "samples").glob("S0*.docx"))


def code_once(path: Path) -> tuple[float, float, int]:
    """(total ms, of which read+parse ms, output bytes)."""
    t0 = time.perf_counter()
    data = path.read_bytes()
    pkg, referral = read_referral(data)
    fields = referral.to_json()
    t1 = time.perf_counter()
    children = fields["young_people"]
    out = code_document(pkg, children, fields.get("family") or [], codes_for("CN78", len(children)),
                        filename="CN78-coded-referral.docx")
    t2 = time.perf_counter()
    return (t2 - t0) * 1000, (t1 - t0) * 1000, len(out)


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    rows, everything = [], []
    for path in SAMPLES:
        code_once(path)  # warm-up (imports, regex compile caches)
        runs = [code_once(path) for _ in range(args.repeat)]
        totals = [r[0] for r in runs]
        parse = [r[1] for r in runs]
        everything.extend(totals)
        rows.append((path.stem, statistics.median(totals), p95(totals), statistics.median(parse), runs[0][2]))
    print(f"{'sample':<28}{'median ms':>10}{'p95 ms':>10}{'parse ms':>10}{'out KB':>8}")
    for name, med, high, parse_med, size in rows:
        print(f"{name:<28}{med:>10.1f}{high:>10.1f}{parse_med:>10.1f}{size / 1024:>8.0f}")
    med_all = statistics.median(everything)
    print(f"{'ALL (' + str(len(everything)) + ' runs)':<28}{med_all:>10.1f}{p95(everything):>10.1f}")
    print(f"target median < 20 ms: {'met' if med_all < 20 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the collector's shape verdict is right: 200 synthetic curves per case and noise level.

    .venv/bin/python scripts/calibrate_shape.py [--n-curves 200] [--out results/shape_calibration]

Writes calibration.csv (one row per case x noise x verdict), power.csv (the right-verdict rate per case and noise:
bench/collect/power.py's CALIBRATED_POWER must hold the Pareto cases' rows, a test checks it) and README.md (the
tables, with this command). The cases and their right answers are in bench/collect/calibrate.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.collect.calibrate import PARETO_CASES, calibrate, calibration_markdown
from bench.collect.power import power_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-curves", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/shape_calibration")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cal = calibrate(n_curves=a.n_curves, seed=a.seed, progress=True)
    cal.to_csv(out / "calibration.csv", index=False)
    power = power_table(cal)
    power.to_csv(out / "power.csv", index=False)
    pareto = power.loc[power["case"].isin(PARETO_CASES)]
    print("CALIBRATED_POWER = " + repr({(r.case, r.noise): round(r.power, 4) for r in pareto.itertuples()}))
    cmd = "python scripts/calibrate_shape.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "README.md").write_text(calibration_markdown(cal, cmd.strip(), time.perf_counter() - t0))
    print((out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

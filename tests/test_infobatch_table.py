"""The InfoBatch-against-full-data table from run records."""

from __future__ import annotations

import pandas as pd

from bench.collect.infobatch import infobatch_rows, within_one_se


def _df(ib_errors, full_errors=(0.20, 0.21, 0.19)):
    rows = []
    for seed, e in enumerate(full_errors):
        rows.append(
            dict(
                pool_size=1000,
                keep=1.0,
                metric="none",
                strategy="keep_hard",
                seed=seed,
                test_error=e,
                examples_seen=4000,
                wall_time_s=10.0,
                **{"extra.train_seconds": 8.0},
            )
        )
    for seed, e in enumerate(ib_errors):
        rows.append(
            dict(
                pool_size=1000,
                keep=1.0,
                metric="none",
                strategy="infobatch",
                seed=seed,
                test_error=e,
                examples_seen=2600,
                wall_time_s=7.0,
                **{"extra.train_seconds": 5.0},
            )
        )
    rows.append(
        dict(
            pool_size=1000,
            keep=0.5,
            metric="random",
            strategy="keep_hard",
            seed=0,
            test_error=0.3,
            examples_seen=2000,
            wall_time_s=5.0,
            **{"extra.train_seconds": 4.0},
        )
    )
    return pd.DataFrame(rows)


def test_infobatch_table_reads_both_arms_and_pairs_them_by_seed():
    rows = infobatch_rows(_df((0.20, 0.22, 0.19)), 1000)
    assert rows[2].startswith("| full data | 3 | 0.2000 ± 0.0058 | 4,000 (100%)")
    assert rows[3].startswith("| InfoBatch (ratio 0.5, delta 0.875) | 3 | 0.2033 ±") and "2,600 (65%)" in rows[3]
    assert rows[4].startswith("| InfoBatch - full data, paired by seed | 3 | +0.0033 ± 0.0033")
    assert within_one_se(_df((0.20, 0.22, 0.19)), 1000)
    assert not within_one_se(_df((0.25, 0.26, 0.24)), 1000)  # 5 points worse: outside
    assert not within_one_se(_df((0.20,)), 1000)  # one paired seed cannot say
    assert "(not run yet)" in infobatch_rows(_df(()), 1000)[3]

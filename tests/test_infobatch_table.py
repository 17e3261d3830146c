"""The InfoBatch-against-full-data table from run records."""

from __future__ import annotations

import pandas as pd

from bench.collect.infobatch import infobatch_rows, within_one_se


def _row(strategy, seed, err, seen, train_s, keep=1.0, metric="none"):
    return {
        "pool_size": 1000,
        "keep": keep,
        "metric": metric,
        "strategy": strategy,
        "seed": seed,
        "test_error": err,
        "examples_seen": seen,
        "wall_time_s": train_s + 2.0,
        "extra.train_seconds": train_s,
    }


def _df(ib_errors, full_errors=(0.20, 0.21, 0.19)):
    rows = [_row("keep_hard", seed, e, 4000, 8.0) for seed, e in enumerate(full_errors)]
    rows += [_row("infobatch", seed, e, 2600, 5.0) for seed, e in enumerate(ib_errors)]
    rows.append(_row("keep_hard", 0, 0.3, 2000, 4.0, keep=0.5, metric="random"))  # not an arm
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

"""The teacher-student perceptron of Sorscher et al. 2022 (appendix A) as a harness dataset.

Gaussian inputs x ~ N(0, I_N) in N = ``dim`` dimensions, a random unit teacher T, labels y = sign(T . x) (class 1 for
+1, class 0 for -1), P = round(alpha_tot * N) training examples and an independent test set. The probe used by
``metric=margin`` is the teacher rotated by ``probe_angle_deg`` (``probe=exact``), or a max-margin student trained on
``n_probe`` random training examples (``probe=trained``: the realistic probe). Everything is seeded by ``seed``
(the run's seed in conf/dataset/perceptron.yaml), through ``bench.theory.perceptron.draw_problem``, the same streams as ``simulate``.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.data import DATASETS, DatasetError, Splits
from bench.theory.perceptron import draw_problem, gaussian_data


@DATASETS.register("perceptron")
def perceptron(
    dim: int = 200,
    alpha_tot: float = 4.0,
    n_test: int = 10000,
    probe: str = "exact",
    probe_angle_deg: float = 0.0,
    n_probe: int | None = None,
    seed: int = 0,
    **_: object,
) -> Splits:

    if int(dim) < 2:
        raise DatasetError(f"dataset.dim={dim} is not allowed: at least 2")
    if not float(alpha_tot) > 0:
        raise DatasetError(f"dataset.alpha_tot={alpha_tot} is not allowed: it must be > 0")
    if not 0.0 <= float(probe_angle_deg) < 90.0:
        raise DatasetError(f"dataset.probe_angle_deg={probe_angle_deg} is not allowed: it must lie in [0, 90)")
    if probe not in ("exact", "trained"):
        raise DatasetError(f"dataset.probe={probe!r} is not allowed: exact or trained")
    n_tot = int(round(float(alpha_tot) * int(dim)))
    if probe == "trained" and (not n_probe or int(n_probe) > n_tot):
        raise DatasetError(f"dataset.n_probe={n_probe} is not allowed with probe=trained: 1..{n_tot}")
    teacher, x, y, probe_vec, _, r_test = draw_problem(
        int(dim), n_tot, int(seed), probe, float(probe_angle_deg), int(n_probe) if n_probe else None
    )
    xt, yt = gaussian_data(int(n_test), int(dim), teacher, r_test)
    # rounded to 1e-9 degrees: the exact probe's angle is the requested one up to float noise (1e-13), and runs of one
    # angle must share one value (the collector splits curves by it: --context probe_angle_deg)
    realised = round(float(np.degrees(np.arccos(np.clip(probe_vec @ teacher, -1.0, 1.0)))), 9)
    return Splits(
        name="perceptron",
        num_classes=2,
        input_shape=(int(dim),),
        train_x=torch.from_numpy(x.astype(np.float64)),
        train_y=torch.from_numpy((y > 0).astype(np.int64)),
        test_x=torch.from_numpy(xt.astype(np.float64)),
        test_y=torch.from_numpy((yt > 0).astype(np.int64)),
        meta={
            "teacher": teacher,
            "probe": probe_vec,
            "alpha_tot": n_tot / int(dim),
            "dim": int(dim),
            "probe_angle_deg": realised,
        },
    )

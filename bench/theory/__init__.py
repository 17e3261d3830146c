"""Teacher-student perceptron theory of data pruning (Sorscher et al. 2022, appendix A).

* :mod:`bench.theory.perceptron` -- simulation (teacher, Gaussian data, probes, pruning, exact
  max-margin student, errors, one-shot ``simulate``).
* :mod:`bench.theory.replica` -- replica/Gardner theory of the max-margin student trained on
  pruned data (``theory_error``), validated against the simulation.
* :mod:`bench.theory.validate` / :mod:`bench.theory.validate_report` -- theory vs simulation over a grid
  of cells (``scripts/theory_validate.py`` -> results/theory/).
* :mod:`bench.theory.frontier` -- the replica Pareto frontier over the keep fraction (optimal f, f_min, the
  theta = 0 cliff and floor); :mod:`bench.theory.frontier_study` / ``frontier_report`` -- its simulation through
  ``experiment=perceptron_frontier`` (``scripts/perceptron_frontier.py`` -> results/perceptron/frontier/), imported on
  demand.
* :mod:`bench.theory.study` / ``study_figures`` / ``study_report`` -- the perceptron study run through the
  harness: tables, figures and README from the run records or the committed ``runs.csv``
  (``scripts/perceptron_figures.py`` -> results/perceptron/). Imported on demand (they need pandas and the
  collector), not by this package.
"""

from bench.theory.perceptron import (
    RULES,
    empirical_error,
    gaussian_data,
    generalization_error,
    make_probe,
    make_teacher,
    max_margin,
    overlap,
    probe_margins,
    prune_indices,
    simulate,
    trained_probe,
)
from bench.theory.replica import gardner_capacity, paper_residuals, prune_threshold, theory_curve, theory_error

__all__ = [
    "RULES",
    "empirical_error",
    "gaussian_data",
    "generalization_error",
    "make_probe",
    "make_teacher",
    "max_margin",
    "overlap",
    "probe_margins",
    "prune_indices",
    "simulate",
    "trained_probe",
    "gardner_capacity",
    "paper_residuals",
    "prune_threshold",
    "theory_curve",
    "theory_error",
]

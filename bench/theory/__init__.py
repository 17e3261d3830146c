"""Teacher-student perceptron theory of data pruning (Sorscher et al. 2022, appendix A).

* :mod:`bench.theory.perceptron` -- simulation (teacher, Gaussian data, probes, pruning, exact
  max-margin student, errors, one-shot ``simulate``).
* :mod:`bench.theory.replica` -- replica/Gardner theory of the max-margin student trained on
  pruned data (``theory_error``), validated against the simulation.
"""
from .perceptron import (RULES, empirical_error, gaussian_data, generalization_error, make_probe,
                         make_teacher, max_margin, overlap, probe_margins, prune_indices, simulate,
                         trained_probe)
from .replica import gardner_capacity, paper_residuals, prune_threshold, theory_curve, theory_error

__all__ = ["RULES", "empirical_error", "gaussian_data", "generalization_error", "make_probe",
           "make_teacher", "max_margin", "overlap", "probe_margins", "prune_indices", "simulate",
           "trained_probe", "gardner_capacity", "paper_residuals", "prune_threshold", "theory_curve",
           "theory_error"]

"""Integer codes the Numba kernels take for a model's statistic and a scan's direction, shared by
the kernels and the tables above them (:mod:`scan.models`), so that neither side imports the
other and the tables load without Numba."""

POISSON, BERNOULLI = 0, 1
"""Likelihood ratios: Kulldorff's Poisson LLR (also the space-time permutation statistic), and
the Bernoulli LLR."""

HIGH, LOW, BOTH = 0, 1, 2
"""Directions: windows with more cases than expected, fewer, or either."""

DIRECTION_CODES = {"high": HIGH, "low": LOW, "both": BOTH}

"""Probability models, one entry each: name, kernel code, the measure that caps window size,
the expected counts a cluster reports, and the null hypothesis the replications draw from.

Adding a model is one entry here plus its LLR and null draw in the kernels (which keep integer
codes inside ``njit``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import ScanParameterError

ModelName = Literal["poisson", "bernoulli", "permutation"]

from ._kernels import BERNOULLI, POISSON


@dataclass(frozen=True)
class Model:
    """A probability model.

    name : the keyword value.  llr : kernel code of its likelihood ratio (:mod:`scan._kernels`).
    null : its null hypothesis: "multinomial" (the cases spread over the expected counts),
    "labels" (case labels re-assigned among cases and controls) or "permutation" (the cases'
    times permuted among the cases).  analyses : the analyses it serves ("spatial", "spacetime", "temporal").
    description : one line for help texts and reports.
    """

    name: str
    llr: int
    null: str
    analyses: tuple[str, ...]
    description: str

    # --- purely spatial -----------------------------------------------------------------------
    def spatial_weights(self, area) -> tuple[np.ndarray, float, float]:
        """Per-location window weights and the totals (C, W) the spatial kernels use.

        Poisson: the expected counts (they sum to C, so W = C).  Bernoulli: the populations
        (cases + controls), W = N.  The weights are also SaTScan's "population at risk" that
        caps the window size.
        """
        C = float(area.total_cases)
        source = area.expected if self.name == "poisson" else area.population
        weights = np.ascontiguousarray(source, dtype=np.float64)
        return weights, C, float(weights.sum())

    def spatial_expected(self, area, members: np.ndarray) -> float:
        """Expected cases in a window under the null."""
        if self.name == "poisson":
            return float(area.expected[members].sum())
        return float(area.population[members].sum() * area.total_cases / area.population.sum())

    # --- space-time ---------------------------------------------------------------------------
    def cell_expected(self, data) -> np.ndarray:
        """Expected counts by location x interval: population-based for Poisson, Kulldorff's
        ``mu = C_z C_t / C`` for the space-time permutation model (summed over covariate strata
        when the data have them: :meth:`scan.data.SpaceTimeData.permutation_expected`)."""
        if self.name == "permutation":
            return data.permutation_expected()
        if data.expected is None:
            raise ScanParameterError("model", "'permutation' for data without a population",
                                     self.name, "the Poisson model needs populations (a "
                                     "population column or a .pop file)")
        return data.expected


MODELS: dict[str, Model] = {m.name: m for m in (
    Model("poisson", POISSON, "multinomial", ("spatial", "spacetime", "temporal"),
          "cases against expected counts from the population at risk"),
    Model("bernoulli", BERNOULLI, "labels", ("spatial",),
          "cases against controls (population = cases + controls)"),
    Model("permutation", POISSON, "permutation", ("spacetime",),
          "space-time permutation: case-only, expected counts from the space and time margins"),
)}


def models_for(analysis: str) -> tuple[str, ...]:
    """Names of the models an analysis ("spatial", "spacetime", "temporal") accepts."""
    return tuple(name for name, m in MODELS.items() if analysis in m.analyses)


def get(name: str, analysis: str) -> Model:
    allowed = models_for(analysis)
    if name not in allowed:
        raise ScanParameterError("model", "one of " + ", ".join(repr(a) for a in allowed), name,
                                 f"the {analysis} analysis offers {', '.join(allowed)}")
    return MODELS[name]

"""SaTScan parameter files (.prm): read them, type their settings, and turn them into an
analysis (data and keyword arguments)."""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Mapping

import numpy as np

from ..data import MAX_COUNT, SpaceTimeData
from ..errors import ScanInputError, ScanParameterError
from ..timeline import parse_date, period_end
from .csv import parse_number
from .text import numbered_lines

log = logging.getLogger(__name__)


def _prm_entries(path) -> dict[str, tuple[str, int]]:
    """key -> (raw value, 1-based line) for every ``Key=value`` line of a .prm file."""
    file = str(path)
    entries: dict[str, tuple[str, int]] = {}
    for line, text in numbered_lines(path, what="parameter file"):
        text = text.strip()
        if not text or text.startswith(";") or (text.startswith("[") and text.endswith("]")):
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScanInputError(f"{text[:80]!r} is not a 'Key=value' setting, a '[Section]' or "
                                 "a ';' comment", file=file, line=line)
        if key in entries:
            raise ScanInputError(f"setting '{key}' already appears on line "
                                 f"{entries[key][1]}", file=file, line=line, field=key)
        entries[key] = (value.strip(), line)
    return entries


def _prm_layout(path) -> tuple[dict[str, str | None], str | None]:
    """The ``[Section]`` each key sits under (None before any header) and the ``[System]
    Version`` the file names (None if it names none)."""
    sections: dict[str, str | None] = {}
    section = None
    for _, text in numbered_lines(path, what="parameter file"):
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip()
        elif text and not text.startswith(";") and "=" in text:
            sections.setdefault(text.partition("=")[0].strip(), section)
    version = None
    if sections.get("Version") == "System":
        version = _prm_entries(path)["Version"][0]
    return sections, version


def read_prm(path) -> dict[str, str]:
    """Read a SaTScan parameter file into a flat ``{key: raw value string}`` dict.

    The file is INI-like: ``[Section]`` headers (dropped: keys are unique across sections),
    ``Key=value`` lines and ``;`` comment lines.  Values are stripped but otherwise raw.
    """
    return {key: value for key, (value, _) in _prm_entries(path).items()}


# Meanings of SaTScan's enumerated settings, as written in the comments of the parameter files
# SaTScan 10.3 writes (see the samples in shared/data/reference/satscan_samples).
PRM_ENUMS: dict[str, dict[str, str]] = {
    # 0 = no dates in the case file; 4 = generic integer times (not calendar dates)
    "PrecisionCaseTimes": {"0": "none", "1": "year", "2": "month", "3": "day", "4": "generic"},
    "CoordinatesType": {"0": "cartesian", "1": "latlong"},
    "AnalysisType": {"1": "purely spatial", "2": "purely temporal",
                     "3": "retrospective space-time", "4": "prospective space-time",
                     "5": "spatial variation in temporal trends",
                     "6": "prospective purely temporal", "7": "seasonal temporal"},
    "ModelType": {"0": "poisson", "1": "bernoulli", "2": "space-time permutation",
                  "3": "ordinal", "4": "exponential", "5": "normal", "6": "continuous poisson",
                  "7": "multinomial", "8": "rank", "9": "uniform time", "10": "batched"},
    # 1 = high rates (clusters of excess risk), 2 = low rates, 3 = both
    "ScanAreas": {"1": "high", "2": "low", "3": "both"},
    "TimeAggregationUnits": {"0": "none", "1": "year", "2": "month", "3": "day",
                             "4": "generic"},
    # 0 = MaxTemporalSize is a percentage of the study period, 1 = a number of aggregation units
    "MaxTemporalSizeInterpretation": {"0": "percentage", "1": "time"},
    "SpatialWindowShapeType": {"0": "circular", "1": "elliptic"},
    # penalty for elliptic windows: [4s/(s+1)^2]^a with a = 0, 1/2, 1
    "NonCompactnessPenalty": {"0": "none", "1": "medium", "2": "strong"},
    # 0 = study period bounds checked strictly (records outside are errors), 1 = relaxed
    # (records outside are ignored); the same for coordinates checking
    "StudyPeriodCheckType": {"0": "strict", "1": "relaxed"},
    "GeographicalCoordinatesCheckType": {"0": "strict", "1": "relaxed"},
    "PValueReportType": {"0": "default", "1": "standard monte carlo", "2": "early termination",
                         "3": "gumbel"},
    # secondary clusters: 0 no geographical overlap, 1 no cluster centres in other clusters,
    # 2 no centres in the most likely cluster, 3 no centres in less likely clusters, 4 no pairs
    # of centres both in each other, 5 no restrictions
    "CriteriaForReportingSecondaryClusters": {
        "0": "no geographical overlap", "1": "no centres in other clusters",
        "2": "no centres in most likely cluster", "3": "no centres in less likely clusters",
        "4": "no pairs of centres in each other", "5": "no restrictions"},
    # Gini clusters: 0 = the optimal collection only, 1 = every collection ("all values")
    "GiniIndexClusterReportingType": {"0": "optimal", "1": "all"},
}
_PRM_FILES = ("CaseFile", "ControlFile", "PopulationFile", "CoordinatesFile")
_PRM_DATES = ("StartDate", "EndDate", "ProspectiveStartDate")
_PRM_INTS = ("TimeAggregationLength", "MonteCarloReps", "MinimumTemporalClusterSize",
             "MinimumCasesInHighRateClusters", "IterativeScanMaxIterations",
             "MinimumCasesInLowRateClusters", "EarlyTerminationThreshold")
_PRM_FLOATS = ("MaxSpatialSizeInPopulationAtRisk", "MaxTemporalSize", "IterativeScanMaxPValue",
               "MaxSpatialSizeInDistanceFromCenter", "GiniIndexClustersPValueCutOff")
_PRM_FLAGS = ("IncludePurelyTemporal", "IncludePurelySpatial", "IterativeScan", "UseGridFile",
              "AdjustForEarlierAnalyses", "UseDistanceFromCenterOption",
              "ReportHierarchicalClusters", "ReportGiniClusters")
_PRM_LISTS = ("EllipseShapes", "EllipseAngles", "SpatialMaxima")
_TRUE, _FALSE = ("y", "yes", "1"), ("n", "no", "0")
# (lowest, lowest allowed?, highest) for the numeric settings; the upper bounds of the counts
# keep them in 32-bit integers (the scan functions apply their own, tighter limits).
_PRM_RANGES: dict[str, tuple[float, bool, float]] = {
    "TimeAggregationLength": (1, True, 100_000),
    "MonteCarloReps": (0, True, MAX_COUNT),
    "MinimumTemporalClusterSize": (1, True, 100_000),
    "MinimumCasesInHighRateClusters": (1, True, MAX_COUNT),
    "IterativeScanMaxIterations": (0, True, 32_000),
    "MinimumCasesInLowRateClusters": (0, True, MAX_COUNT),
    "EarlyTerminationThreshold": (1, True, MAX_COUNT),
    "MaxSpatialSizeInPopulationAtRisk": (0, False, 50),
    "MaxTemporalSize": (0, False, 1e9),
    "IterativeScanMaxPValue": (0, False, 1),
    "GiniIndexClustersPValueCutOff": (0, False, 1),
    "MaxSpatialSizeInDistanceFromCenter": (0, False, 1e12),
}


def _prm_number(key: str, raw: str, file: str, line: int | None):
    """An int or float setting: plain ASCII decimals within :data:`_PRM_RANGES`."""
    integer = key in _PRM_INTS
    if integer and not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ScanInputError(f"{raw!r} is not an integer", file=file, line=line, field=key)
    value = parse_number(raw, file=file, line=line, field=key)
    if key in _PRM_RANGES:
        low, closed, high = _PRM_RANGES[key]
        if value < low or (value == low and not closed) or value > high:
            allowed = f"{'from' if closed else 'above'} {low:g} {'to' if closed else 'up to'} "
            raise ScanInputError(f"{raw!r} is out of range: allowed {allowed}{high:,.10g}",
                                 file=file, line=line, field=key)
    return int(value) if integer else value


def _prm_value(key: str, raw: str, file: str, line: int | None):
    def bad(allowed: str) -> ScanInputError:
        return ScanInputError(f"{raw!r} is not {allowed}", file=file, line=line, field=key)

    if key in _PRM_FILES:
        return raw or None
    if key in PRM_ENUMS:
        if raw not in PRM_ENUMS[key]:
            raise bad("one of " + ", ".join(f"{k} ({v})" for k, v in PRM_ENUMS[key].items()))
        return PRM_ENUMS[key][raw]
    if key in _PRM_DATES:
        day, precision = parse_date(raw, file=file, line=line, field=key)
        return period_end(day, precision) if key == "EndDate" else day
    if key in _PRM_FLAGS:
        if raw.lower() not in _TRUE + _FALSE:
            raise bad("'y' or 'n'")
        return raw.lower() in _TRUE
    if key in _PRM_LISTS:
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not values:
            raise bad("a comma-separated list of numbers")
        return tuple(float(parse_number(v, file=file, line=line, field=key)) for v in values)
    return _prm_number(key, raw, file, line)


def prm_settings(prm) -> dict[str, object]:
    """The settings of a .prm file that ``scan`` uses, as typed values.

    ``prm`` is a path or the dict :func:`read_prm` returns.  Keys keep SaTScan's names; only
    keys present are returned.  Types: file names are str (None when empty); enumerated
    settings are the strings of :data:`PRM_ENUMS` (e.g. ``CoordinatesType`` -> "cartesian" or
    "latlong", ``ModelType`` 0 -> "poisson", 1 -> "bernoulli", 2 -> "space-time permutation";
    ``AnalysisType`` 1 -> "purely spatial", 3 -> "retrospective space-time"); ``StartDate`` is
    the first day and ``EndDate`` the last day of the period written (datetime64[D]);
    ``MaxSpatialSizeInPopulationAtRisk`` (percent of the population at risk, <= 50) and
    ``MaxTemporalSize`` (percent of the study period, or aggregation units when
    ``MaxTemporalSizeInterpretation`` is "time") are floats; ``MonteCarloReps``,
    ``TimeAggregationLength`` and the other counts are ints; y/n flags are bools.
    """
    if isinstance(prm, Mapping):
        entries = {k: (v, None) for k, v in prm.items()}
        file = "<prm>"
    else:
        entries, file = _prm_entries(prm), str(prm)
    return _typed(entries, file)


def _typed(entries: Mapping[str, tuple[str, int | None]], file: str) -> dict[str, object]:
    wanted = (_PRM_FILES + tuple(PRM_ENUMS) + _PRM_DATES + _PRM_INTS + _PRM_FLOATS + _PRM_FLAGS
              + _PRM_LISTS)
    return {key: _prm_value(key, entries[key][0], file, entries[key][1])
            for key in wanted if key in entries}


# Where SaTScan 10.x writes (and looks for) each key the readers use: SaTScan reads a key only
# under its own [Section], so one written elsewhere keeps its default.
PRM_SECTIONS: dict[str, str] = {
    **{k: "Input" for k in ("CaseFile", "ControlFile", "PrecisionCaseTimes", "StartDate",
                            "EndDate", "PopulationFile", "CoordinatesFile", "UseGridFile",
                            "GridFile", "CoordinatesType")},
    **{k: "Analysis" for k in ("AnalysisType", "ModelType", "ScanAreas",
                               "TimeAggregationUnits", "TimeAggregationLength")},
    **{k: "Data Checking" for k in ("StudyPeriodCheckType",
                                    "GeographicalCoordinatesCheckType")},
    **{k: "Spatial Neighbors" for k in ("UseNeighborsFile", "UseMetaLocationsFile",
                                        "MultipleCoordinatesType")},
    "UseLocationsNetworkFile": "Locations Network",
    **{k: "Spatial Window" for k in (
        "MaxSpatialSizeInPopulationAtRisk", "UseMaxCirclePopulationFileOption",
        "UseDistanceFromCenterOption", "MaxSpatialSizeInDistanceFromCenter",
        "IncludePurelyTemporal", "SpatialWindowShapeType", "NonCompactnessPenalty",
        "IsotonicScan")},
    **{k: "Temporal Window" for k in ("MinimumTemporalClusterSize",
                                      "MaxTemporalSizeInterpretation", "MaxTemporalSize",
                                      "IncludePurelySpatial")},
    **{k: "Cluster Restrictions" for k in (
        "RiskLimitHighClusters", "RiskLimitLowClusters", "MinimumCasesInLowRateClusters",
        "MinimumCasesInHighRateClusters")},
    **{k: "Space and Time Adjustments" for k in (
        "TimeTrendAdjustmentType", "AdjustForWeeklyTrends", "SpatialAdjustmentType",
        "UseAdjustmentsByRRFile")},
    **{k: "Inference" for k in (
        "PValueReportType", "EarlyTerminationThreshold", "ReportGumbel", "MonteCarloReps",
        "AdjustForEarlierAnalyses", "ProspectiveStartDate", "IterativeScan",
        "IterativeScanMaxIterations", "IterativeScanMaxPValue")},
    **{k: "Spatial Output" for k in (
        "ReportHierarchicalClusters", "CriteriaForReportingSecondaryClusters",
        "ReportGiniClusters", "UseReportOnlySmallerClusters", "GiniIndexClusterReportingType",
        "SpatialMaxima", "GiniIndexClustersPValueCutOff")},
    **{k: "Elliptic Scan" for k in ("EllipseShapes", "EllipseAngles")},
    "PerformPowerEvaluation": "Power Evaluation",
}


def _placed_entries(prm) -> dict[str, tuple[str, int]]:
    """The entries of a .prm as SaTScan reads them: in a file SaTScan 10 wrote (a ``[System]``
    ``Version=10...``), a key of :data:`PRM_SECTIONS` under another section is left out (it
    keeps its default, with a warning); other files are read whole."""
    entries = _prm_entries(prm)
    sections, version = _prm_layout(prm)
    if version is None or not re.match(r"1[0-9]\.", version):
        return entries
    out = {}
    for key, value in entries.items():
        where = sections.get(key)
        if key in PRM_SECTIONS and where is not None and where != PRM_SECTIONS[key]:
            log.warning("%s, line %d: %s is under [%s], where SaTScan does not read it (it "
                        "belongs under [%s]); its default applies", prm, value[1], key, where,
                        PRM_SECTIONS[key])
            continue
        out[key] = value
    return out


def prm_input_files(prm) -> list[tuple[str, "Path", int, str]]:
    """(key, path, line, name as written) of the input files a .prm names (relative to the
    .prm's folder)."""
    from pathlib import Path

    entries = _prm_entries(prm)
    folder = Path(prm).parent
    return [(key, folder / entries[key][0], entries[key][1], entries[key][0])
            for key in _PRM_FILES if key in entries and entries[key][0]]


# ----------------------------------------------------------------------------- analyses
_PRM_ANALYSES = {"retrospective space-time": "retrospective",
                 "prospective space-time": "prospective", "purely temporal": "temporal"}
_PRM_MODELS = {"poisson": "poisson", "space-time permutation": "permutation"}
_PRM_UNITS = {"year": "year", "month": "month", "day": "day"}
# SaTScan's secondary-cluster criteria by the names of scan's secondary= keyword
_PRM_CRITERIA = {"no geographical overlap": "no-overlap",
                 "no centres in other clusters": "no-centres-in-others",
                 "no centres in most likely cluster": "no-centres-in-more-likely",
                 "no centres in less likely clusters": "no-centres-in-less-likely",
                 "no pairs of centres in each other": "no-pairs-of-centres",
                 "no restrictions": "none"}


class _Prm:
    """One parameter file as SaTScan reads it: raw entries (by section), typed settings, and
    the helpers that refuse what scan does not implement."""

    def __init__(self, prm, base_dir=None):
        self.prm = prm
        self.entries = _placed_entries(prm)
        if not self.entries:
            raise ScanInputError("no settings: a SaTScan parameter file holds 'Key=value' lines",
                                 file=str(prm))
        self.raw = {key: value for key, (value, _) in self.entries.items()}
        self.s = _typed(self.entries, str(prm))
        self.folder = Path(base_dir) if base_dir is not None else Path(prm).parent
        self.relative_to = "base_dir" if base_dir is not None else "the .prm's folder"

    def line_of(self, key):
        return self.entries[key][1] if key in self.entries else None

    def unsupported(self, key, value, fix):
        raise ScanParameterError(f"{key} (in {self.prm})", "a setting scan implements", value,
                                 fix)

    def flag(self, key) -> bool:
        return str(self.raw.get(key, "n")).lower() in _TRUE

    def refuse_flags(self, keys, fix="set it to n"):
        for key in keys:
            if self.flag(key):
                self.unsupported(key, "y", fix)

    def path(self, key, needed: str | None = None):
        """The input file a setting names, checked now so the message can name the setting."""
        from .text import unreadable_reason

        name = self.s.get(key)
        if not name:
            if needed is None:
                return None
            raise ScanInputError(f"no {key} given: {needed}", file=str(self.prm),
                                 line=self.line_of(key), field=key)
        full = self.folder / name
        reason = unreadable_reason(full)
        if reason is not None:
            hint = ("; it looks like a Windows path: copy the file next to the .prm and give "
                    "its name" if "\\" in name or re.match(r"[A-Za-z]:", name) else "")
            raise ScanInputError(f"the file it names, {name!r}, {reason}; paths are relative to "
                                 f"{self.relative_to}{hint}", file=str(self.prm),
                                 line=self.line_of(key), field=key)
        return str(full)

    def direction(self) -> str:
        return self.s.get("ScanAreas", "high")

    def low_rate_minimum(self):
        if self.s.get("MinimumCasesInLowRateClusters", 0) != 0:
            self.unsupported("MinimumCasesInLowRateClusters",
                             self.s["MinimumCasesInLowRateClusters"],
                             "low-rate clusters have no minimum in scan: set it to 0")

    def radius(self, kwargs):
        if self.flag("UseDistanceFromCenterOption"):
            if "MaxSpatialSizeInDistanceFromCenter" not in self.s:
                raise ScanInputError("UseDistanceFromCenterOption=y but there is no "
                                     "MaxSpatialSizeInDistanceFromCenter setting",
                                     file=str(self.prm),
                                     line=self.line_of("UseDistanceFromCenterOption"),
                                     field="MaxSpatialSizeInDistanceFromCenter")
            kwargs["max_radius"] = self.s["MaxSpatialSizeInDistanceFromCenter"]

    def secondary(self, kwargs):
        """CriteriaForReportingSecondaryClusters as scan's ``secondary=`` (when scan has it)."""
        from ..secondary import CRITERIA

        name = self.s.get("CriteriaForReportingSecondaryClusters", "no geographical overlap")
        if _PRM_CRITERIA[name] not in CRITERIA:
            self.unsupported("CriteriaForReportingSecondaryClusters", name,
                             "use 0 (no geographical overlap)")
        if _PRM_CRITERIA[name] != "no-overlap":
            kwargs["secondary"] = _PRM_CRITERIA[name]
        if not self.s.get("ReportHierarchicalClusters", True):
            self.unsupported("ReportHierarchicalClusters", "n",
                             "set it to y (scan reports every cluster; keep the first)")



def satscan_prm_spacetime(prm, *, base_dir=None) -> tuple[SpaceTimeData, dict]:
    """Data and :func:`spacetime_scan` keyword arguments from a SaTScan parameter file.

    Honoured: the input files (relative to the .prm's folder, or ``base_dir``), CoordinatesType,
    StartDate/EndDate, AnalysisType (3 retrospective, 4 prospective space-time, 2 purely
    temporal), ModelType (0 Poisson, 2 space-time permutation, with the case file's covariate
    columns), ScanAreas (direction), TimeAggregationUnits/Length,
    MaxSpatialSizeInPopulationAtRisk, UseDistanceFromCenterOption with
    MaxSpatialSizeInDistanceFromCenter, MaxTemporalSize with MaxTemporalSizeInterpretation,
    MinimumTemporalClusterSize, MinimumCasesInHighRateClusters, MonteCarloReps,
    AdjustForEarlierAnalyses with ProspectiveStartDate (prospective analyses; ignored otherwise,
    as SaTScan does) and CriteriaForReportingSecondaryClusters (when scan has the criterion).
    Settings that would change the analysis in ways not implemented (ellipses, adjustments,
    iterative scans, purely spatial/temporal clusters inside a space-time analysis, risk
    limits, a low-rate minimum) raise ScanParameterError rather than being ignored.  In a file
    SaTScan 10 wrote, a key under the wrong [Section] keeps its default, as in SaTScan.
    """
    from .satscan import read_satscan_data, satscan_spacetime_data

    f = _Prm(prm, base_dir)
    s, raw = f.s, f.raw
    analysis = _PRM_ANALYSES.get(s.get("AnalysisType"))
    if analysis is None:
        f.unsupported("AnalysisType", s.get("AnalysisType"), "use 2, 3 or 4")
    model = _PRM_MODELS.get(s.get("ModelType"))
    if model is None:
        f.unsupported("ModelType", s.get("ModelType"), "use 0 (Poisson) or 2 (space-time "
                      "permutation)")
    f.low_rate_minimum()
    for key in ("IncludePurelyTemporal", "IncludePurelySpatial"):
        if s.get(key):
            f.unsupported(key, "y", "set it to n")
    for key in ("TimeTrendAdjustmentType", "SpatialAdjustmentType"):
        if raw.get(key, "0") not in ("0", ""):
            f.unsupported(key, raw[key], "set it to 0 (no adjustment)")
    f.refuse_flags(("AdjustForWeeklyTrends", "UseAdjustmentsByRRFile",
                    "UseMaxCirclePopulationFileOption", "UseNeighborsFile",
                    "UseMetaLocationsFile", "UseLocationsNetworkFile", "RiskLimitHighClusters",
                    "RiskLimitLowClusters"))
    if raw.get("MultipleCoordinatesType", "0") not in ("0", ""):
        f.unsupported("MultipleCoordinatesType", raw["MultipleCoordinatesType"], "use 0")
    unit = _PRM_UNITS.get(s.get("TimeAggregationUnits"))
    if unit is None:
        f.unsupported("TimeAggregationUnits", s.get("TimeAggregationUnits"),
                      "use 1 (year), 2 (month) or 3 (day)")

    if model == "poisson" and not s.get("PopulationFile"):
        f.unsupported("PopulationFile", "", "the Poisson model needs a population file")
    cas = f.path("CaseFile", "a space-time analysis needs a case file")
    geo = f.path("CoordinatesFile", "a space-time analysis needs a coordinates file")
    pop = f.path("PopulationFile") if model == "poisson" else None
    time_size = s.get("MaxTemporalSize", 50)
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        if time_size < 1:
            raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: with "
                                 "MaxTemporalSizeInterpretation=1 it is a number of time units, "
                                 "at least 1", file=str(prm), line=f.line_of("MaxTemporalSize"),
                                 field="MaxTemporalSize")
    elif time_size > 90:
        raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: as a percentage of "
                             "the study period it is at most 90", file=str(prm),
                             line=f.line_of("MaxTemporalSize"), field="MaxTemporalSize")
    data = read_satscan_data(cas, geo=geo, pop=pop,
                             coordinates=s.get("CoordinatesType", "latlong"),
                             start=s.get("StartDate"), end=s.get("EndDate"), dates=True)
    st = satscan_spacetime_data(data, time_aggregation=unit,
                                aggregation_length=s.get("TimeAggregationLength", 1))
    kwargs: dict = dict(model=model, analysis=analysis,
                        max_population_fraction=s.get("MaxSpatialSizeInPopulationAtRisk", 50) / 100,
                        # SaTScan: ceil(minimum size in units / aggregation length) intervals
                        min_temporal_length=max(1, math.ceil(
                            s.get("MinimumTemporalClusterSize", 1)
                            / s.get("TimeAggregationLength", 1))),
                        min_cases=s.get("MinimumCasesInHighRateClusters", 2),
                        n_replications=s.get("MonteCarloReps", 999))
    if f.direction() != "high":
        kwargs["direction"] = f.direction()
    f.radius(kwargs)
    f.secondary(kwargs)
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        kwargs["max_temporal_length"] = time_size
    else:
        kwargs["max_temporal_fraction"] = time_size / 100
    if analysis == "prospective" and s.get("AdjustForEarlierAnalyses"):
        if "ProspectiveStartDate" not in s:
            raise ScanInputError("AdjustForEarlierAnalyses=y but there is no "
                                 "ProspectiveStartDate setting", file=str(prm),
                                 line=f.line_of("AdjustForEarlierAnalyses"),
                                 field="ProspectiveStartDate")
        if "max_radius" not in kwargs:
            f.unsupported("AdjustForEarlierAnalyses", "y", "SaTScan then caps the circles by "
                          "distance: set UseDistanceFromCenterOption=y with "
                          "MaxSpatialSizeInDistanceFromCenter")
        kwargs.update(adjust_earlier_analyses=True,
                      prospective_start=str(s["ProspectiveStartDate"]))
        kwargs.pop("max_population_fraction")
    kwargs.update(_feature_keywords(f, spatial=False))
    return st, kwargs


def _feature_keywords(f: _Prm, *, spatial: bool) -> dict:
    """The keywords of SaTScan's optional features a .prm switches on: elliptic windows and
    the non-compactness penalty, early termination (PValueReportType=2), the iterative scan,
    and (purely spatial) Gini clusters."""
    s = f.s
    out: dict = {}
    elliptic = s.get("SpatialWindowShapeType", "circular") == "elliptic"
    if elliptic and not f.raw.get("EllipseAngles", "").strip():
        # SaTScan 10.3 reads no angles and so scans circles only (satscan-rules-spatial §1)
        log.warning("%s: SpatialWindowShapeType=1 without EllipseAngles: SaTScan scans "
                    "circles only, and so does scan", f.prm)
        elliptic = False
    if elliptic:
        out.update(shape="ellipse",
                   ellipse_shapes=tuple(s.get("EllipseShapes", (1.5, 2.0, 3.0, 4.0, 5.0))),
                   ellipse_angles=tuple(int(a) for a in s.get("EllipseAngles",
                                                              (4, 6, 9, 12, 15))),
                   non_compactness_penalty=s.get("NonCompactnessPenalty", "medium"))
    if s.get("PValueReportType", "default") == "early termination":
        out["early_termination"] = True
        if s.get("EarlyTerminationThreshold", 50) != 50:
            out["early_termination_threshold"] = s["EarlyTerminationThreshold"]
    if s.get("IterativeScan"):
        out.update(iterative=True,
                   iterative_max=max(1, s.get("IterativeScanMaxIterations", 10)),
                   iterative_cutoff=s.get("IterativeScanMaxPValue", 0.05))
    if s.get("ReportGiniClusters"):
        if not spatial:
            f.unsupported("ReportGiniClusters", "y", "Gini clusters are purely spatial: set "
                          "it to n (SaTScan ignores it here)")
        from ..secondary import GINI_MAXIMA

        maxima = s.get("SpatialMaxima", GINI_MAXIMA)
        if sorted(maxima) != sorted(float(m) for m in GINI_MAXIMA):
            f.unsupported("SpatialMaxima", f.raw["SpatialMaxima"], "scan's Gini collections use "
                          "SaTScan's default maxima: set it to "
                          + ",".join(str(m) for m in GINI_MAXIMA))
        out["gini"] = True
        if s.get("GiniIndexClusterReportingType", "optimal") != "optimal":
            out["gini_collections"] = s["GiniIndexClusterReportingType"]
        if s.get("GiniIndexClustersPValueCutOff", 0.05) != 0.05:
            out["gini_cutoff"] = s["GiniIndexClustersPValueCutOff"]
    return out


def satscan_prm_spatial(prm, *, base_dir=None):
    """Study area and :func:`scan.circular_scan` keyword arguments from a SaTScan parameter file
    of a purely spatial analysis (AnalysisType=1), Poisson or Bernoulli.

    Honoured: CaseFile, ControlFile (Bernoulli), PopulationFile (Poisson, with covariates),
    CoordinatesFile and CoordinatesType (relative to the .prm's folder, or ``base_dir``);
    PrecisionCaseTimes with StartDate/EndDate (dates are read and checked when the precision is
    not 0, and the Poisson population is averaged over the study period); ModelType (0, 1);
    ScanAreas (direction); MaxSpatialSizeInPopulationAtRisk; UseDistanceFromCenterOption with
    MaxSpatialSizeInDistanceFromCenter; MinimumCasesInHighRateClusters; MonteCarloReps;
    CriteriaForReportingSecondaryClusters; and, when this version of scan has the keywords,
    SpatialWindowShapeType / EllipseShapes / EllipseAngles / NonCompactnessPenalty,
    IterativeScan / IterativeScanMaxIterations / IterativeScanMaxPValue, PValueReportType=2
    (early termination) and ReportGiniClusters.  Ignored as SaTScan ignores them in a purely
    spatial run: the time aggregation, the temporal window, AdjustForEarlierAnalyses and
    ProspectiveStartDate; ignored as output-only: ReportGumbel (scan always gives the Gumbel
    p-value too), CriticalValue, ReportClusterRank, RandomSeed and the run options.  Anything
    else that changes the analysis (grid files, max-circle files, isotonic scans, risk limits,
    reported-size limits, relaxed data checks, known relative risks, neighbours or
    meta-locations files, power evaluations) raises ScanParameterError.  In a file SaTScan 10
    wrote, a key under the wrong [Section] keeps its default, as in SaTScan.
    """
    from .satscan import read_satscan_data, spatial_study_area

    f = _Prm(prm, base_dir)
    s, raw = f.s, f.raw
    if s.get("AnalysisType", "purely spatial") != "purely spatial":
        f.unsupported("AnalysisType", s.get("AnalysisType"),
                      "use 1 (purely spatial), or scan spacetime --prm for 2, 3 and 4")
    model = {"poisson": "poisson", "bernoulli": "bernoulli"}.get(s.get("ModelType", "poisson"))
    if model is None:
        f.unsupported("ModelType", s.get("ModelType"), "use 0 (Poisson) or 1 (Bernoulli)")
    f.low_rate_minimum()
    if raw.get("IsotonicScan", "0") not in ("0", ""):
        f.unsupported("IsotonicScan", raw["IsotonicScan"], "set it to 0 (no isotonic scan)")
    if raw.get("SpatialAdjustmentType", "0") not in ("0", ""):
        f.unsupported("SpatialAdjustmentType", raw["SpatialAdjustmentType"], "set it to 0")
    for key in ("StudyPeriodCheckType", "GeographicalCoordinatesCheckType"):
        if raw.get(key, "0") not in ("0", ""):
            f.unsupported(key, raw[key], "set it to 0 (strict checks: scan reports every "
                          "record outside the study period or the coordinates file)")
    f.refuse_flags(("UseGridFile", "UseMaxCirclePopulationFileOption", "UseNeighborsFile",
                    "UseMetaLocationsFile", "UseLocationsNetworkFile", "RiskLimitHighClusters",
                    "RiskLimitLowClusters", "UseAdjustmentsByRRFile",
                    "UseReportOnlySmallerClusters", "PerformPowerEvaluation",
                    "AdjustForWeeklyTrends"))
    if raw.get("MultipleCoordinatesType", "0") not in ("0", ""):
        f.unsupported("MultipleCoordinatesType", raw["MultipleCoordinatesType"], "use 0")
    for key in raw:
        if re.fullmatch(r"(CaseFile|ControlFile|PopulationFile)[0-9]+", key) and raw[key]:
            f.unsupported(key, raw[key], "one data set only: remove the extra data sets")

    if model == "poisson" and not s.get("PopulationFile"):
        f.unsupported("PopulationFile", "", "the Poisson model needs a population file")
    if model == "bernoulli" and not s.get("ControlFile"):
        f.unsupported("ControlFile", "", "the Bernoulli model needs a control file")
    cas = f.path("CaseFile", "a purely spatial analysis needs a case file")
    geo = f.path("CoordinatesFile", "a purely spatial analysis needs a coordinates file")
    pop = f.path("PopulationFile") if model == "poisson" else None
    ctl = f.path("ControlFile") if model == "bernoulli" else None
    precision = s.get("PrecisionCaseTimes", "year")
    if precision == "generic":
        f.unsupported("PrecisionCaseTimes", "4", "use 0 (none) or calendar dates (1, 2, 3)")
    start = s.get("StartDate", np.datetime64("2000-01-01"))
    end = s.get("EndDate", np.datetime64("2000-12-31"))
    _check_period_precision(f, precision, start, end)
    data = read_satscan_data(cas, geo=geo, pop=pop, ctl=ctl,
                             coordinates=s.get("CoordinatesType", "latlong"), start=start,
                             end=end, dates=precision != "none")
    area = spatial_study_area(data, model=model)
    kwargs: dict = dict(model=model,
                        max_population_fraction=s.get("MaxSpatialSizeInPopulationAtRisk", 50) / 100,
                        min_cases=s.get("MinimumCasesInHighRateClusters", 2),
                        n_replications=s.get("MonteCarloReps", 999))
    if f.direction() != "high":
        kwargs["direction"] = f.direction()
    f.radius(kwargs)
    f.secondary(kwargs)
    kwargs.update(_feature_keywords(f, spatial=True))
    return area, kwargs


def _check_period_precision(f: _Prm, precision: str, start, end) -> None:
    """SaTScan's rule: with year precision the study period runs from a 1 January to a
    31 December, with month precision from the first to the last day of a month."""
    start, end = np.datetime64(start, "D"), np.datetime64(end, "D")
    if precision == "year":
        ok_start = start == start.astype("datetime64[Y]").astype("datetime64[D]")
        ok_end = end + 1 == (end.astype("datetime64[Y]") + 1).astype("datetime64[D]")
        what = "a 1 January start and a 31 December end"
    elif precision == "month":
        ok_start = start == start.astype("datetime64[M]").astype("datetime64[D]")
        ok_end = end + 1 == (end.astype("datetime64[M]") + 1).astype("datetime64[D]")
        what = "a study period from the first day of a month to the last day of a month"
    else:
        return
    if not ok_start or not ok_end:
        key = "StartDate" if not ok_start else "EndDate"
        raise ScanInputError(f"PrecisionCaseTimes={'1' if precision == 'year' else '2'} "
                             f"({precision}) needs {what}; got {start} to {end}",
                             file=str(f.prm), line=f.line_of(key), field=key)

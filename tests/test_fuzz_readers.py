"""Fuzzing the readers: random bytes and random mutations of small valid files.

Whatever the input, a reader either returns a valid StudyArea / SpaceTimeData or raises
ScanInputError / ScanParameterError: never IndexError, ValueError, UnicodeDecodeError,
OverflowError, MemoryError, csv.Error, a numpy RuntimeWarning (turned into an error here), ...

Deterministic (``derandomize=True``); the default profile keeps the whole module to a few
seconds, the ``slow`` tests run the same properties with many more examples.
"""
from __future__ import annotations

import codecs
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scan.data import MAX_COUNT, SpaceTimeData, StudyArea
from scan.errors import ScanInputError, ScanParameterError
from scan.io.csv import read_csv
from scan.io.prm import prm_settings, satscan_prm_spacetime
from scan.io.satscan import read_satscan, read_satscan_spacetime
from scan.io.spacetime_csv import read_spacetime_csv

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

ALLOWED = (ScanInputError, ScanParameterError)
QUICK = settings(derandomize=True, max_examples=120, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
THOROUGH = settings(QUICK, max_examples=2000)

SEEDS = {
    "csv": "id,x,y,cases,population,expected\nA,0,0,3,100,2.5\nB,1,0,1,200,1\n"
           "C,0,1,2,150,1.5\nD,1,1,0,120,1\n",
    "st": "id,x,y,time,cases,population\nA,0,0,2020-01-01,1,100\nA,0,0,2020-01-02,3,100\n"
          "B,1,0,2020-01-01,2,200\nB,1,0,2020-01-03,1,\nC,0,1,2020-01-02,2,150\n",
    "cas": "A 3 2020/1/1 1\nB 1 2020/1/2 2\nC 2 2020/1/2 1\nA 1 2020/1/3 2\n",
    "pop": "A 2020 60 1\nA 2020 40 2\nB 2020 120 1\nB 2020 80 2\nC 2020 90 1\nC 2020 60 2\n",
    "geo": "A 0 0\nB 1 0\nC 0 1\n",
    "ctl": "A 10 2020/1/1\nB 20 2020/1/2\nC 30 2020/1/3\n",
    "prm": "[Input]\nCaseFile=a.cas\nStartDate=2020/1/1\nEndDate=2020/1/3\n"
           "PopulationFile=a.pop\nCoordinatesFile=a.geo\nCoordinatesType=0\n[Analysis]\n"
           "AnalysisType=3\nModelType=0\nScanAreas=1\nTimeAggregationUnits=3\n"
           "TimeAggregationLength=1\n[Window]\nMaxSpatialSizeInPopulationAtRisk=50\n"
           "MaxTemporalSizeInterpretation=0\nMaxTemporalSize=50\n"
           "MinimumCasesInHighRateClusters=2\n[Inference]\nMonteCarloReps=9\n",
}

SPECIAL_TOKENS = [
    "", " ", "0", "-1", "1.5", "1e19", "1e308", "-1e308", "1e-320", "1e999", "2147483648",
    "99999999999999999999999", "nan", "NaN", "inf", "-inf", "Infinity", "1_000", "0x1F", "１２",
    "٣", "1,5", '"', '"a,b"', ",", "\t", "\r", "\x00", "\ufeff", "é", "A", "A ", " A", "B",
    "x" * 300,
]
BAD_DATES = [
    "2077", "1990/1/1", "9999/12/31", "0001/1/1", "2001/13/1", "2001/2/30", "73", "0", "00",
    "0000", "00/00/0000", "12345/1/1", "2020/1/1/1", "2020-W01", "2020/01", "2020-01-02",
    "1/2/2020", "2020/1/0", "2020/-1/1", "2020..1", "9" * 40,
]
ENCODINGS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"]

EXTREME_NUMBERS = [
    "1e308", "1.7e308", "1e306", "1e300", "1e-300", "1e-320", "5e-324", "1e-100", "9e15",
    "2147483647", "2147483648", "4294967296", "1e19", "-0", "0", "0.0", "1e0", "00000000001",
]
TOKEN = re.compile(r"[^\s,=]+")
NUMBER = re.compile(r"(?<![\w/.-])[0-9]+(?:\.[0-9]+)?(?![\w/.-])")


def _lines(text: str) -> list[str]:
    return text.split("\n")


@st.composite
def mutation(draw):
    """One edit, as a function of (text: str) -> str | bytes."""
    kind = draw(st.sampled_from([
        "token", "number", "number", "date", "truncate", "flip", "insert", "dup_line", "del_line",
        "dup_column",
        "del_column", "swap_columns", "spaces", "bom", "encode", "blank_lines", "crlf",
    ]))
    a = draw(st.integers(0, 10_000))
    b = draw(st.integers(0, 10_000))

    def pick(items):
        return items[a % len(items)] if items else None

    if kind in ("token", "number", "date", "spaces"):
        new = {"token": draw(st.sampled_from(SPECIAL_TOKENS)),
               "number": draw(st.sampled_from(EXTREME_NUMBERS)),
               "date": draw(st.sampled_from(BAD_DATES)),
               "spaces": None}[kind]
        pattern = NUMBER if kind == "number" else TOKEN

        def edit(text):
            spans = [m.span() for m in pattern.finditer(text)]
            if not spans:
                return text
            i, j = pick(spans)
            value = new if kind != "spaces" else f"  {text[i:j]}\t"
            return text[:i] + value + text[j:]
        return edit
    if kind == "truncate":
        return lambda text: text[:a % (len(text) + 1)]
    if kind == "flip":
        value = draw(st.integers(0, 255))

        def edit(text):
            data = bytearray(text.encode("utf-8", "surrogateescape"))
            if data:
                data[a % len(data)] = value
            return bytes(data)
        return edit
    if kind == "insert":
        junk = draw(st.binary(min_size=1, max_size=8))

        def edit(text):
            data = text.encode("utf-8", "surrogateescape")
            k = a % (len(data) + 1)
            return data[:k] + junk + data[k:]
        return edit
    if kind in ("dup_line", "del_line"):
        def edit(text):
            lines = _lines(text)
            k = a % len(lines)
            if kind == "dup_line":
                lines.insert(b % (len(lines) + 1), lines[k])
            else:
                del lines[k]
            return "\n".join(lines)
        return edit
    if kind in ("dup_column", "del_column", "swap_columns"):
        def edit(text):
            lines = _lines(text)
            sep = "," if "," in text else " "
            rows = [line.split(sep) for line in lines]
            width = max(len(r) for r in rows)
            i, j = a % width, b % width
            for r in rows:
                if i < len(r):
                    if kind == "dup_column":
                        r.insert(j % (len(r) + 1), r[i])
                    elif kind == "del_column":
                        del r[i]
                    elif j < len(r):
                        r[i], r[j] = r[j], r[i]
            return "\n".join(sep.join(r) for r in rows)
        return edit
    if kind == "bom":
        bom = draw(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE,
                                    codecs.BOM_UTF32_LE]))
        return lambda text: bom + text.encode("utf-8", "surrogateescape")
    if kind == "encode":
        encoding = draw(st.sampled_from(ENCODINGS))
        accent = draw(st.booleans())

        def edit(text):
            if accent:
                text = text.replace("A", "Å", 1)
            try:
                return text.encode(encoding)
            except UnicodeError:
                return text
        return edit
    if kind == "blank_lines":
        return lambda text: "\n\n  \n" + text.replace("\n", "\n\n", 1)
    return lambda text: text.replace("\n", "\r\n" if a % 2 else "\r")


def apply(text: str, edits) -> bytes:
    current: str | bytes = text
    for edit in edits:
        if isinstance(current, bytes):
            current = current.decode("utf-8", "surrogateescape")
        current = edit(current)
    if isinstance(current, str):
        current = current.encode("utf-8", "surrogateescape")
    return current


edits_st = st.lists(mutation(), min_size=1, max_size=4)


# ---------------------------------------------------------------------------- what is valid
def check_area(area: StudyArea) -> None:
    assert isinstance(area, StudyArea)
    n = area.n_locations
    assert n >= 1 and len(set(area.ids.tolist())) == n
    assert all(i == i.strip() and i for i in area.ids.tolist())
    assert area.cases.dtype == np.int64 and (area.cases >= 0).all()
    assert 0 < area.cases.sum() <= MAX_COUNT
    assert np.isfinite(area.coords).all() and area.coords.shape == (n, 2)
    assert np.isfinite(area.population).all() and (area.population >= 0).all()
    assert np.isfinite(area.expected).all() and (area.expected >= 0).all()
    assert area.expected.sum() == pytest.approx(area.cases.sum(), rel=1e-9)
    assert not ((area.expected <= 0) & (area.cases > 0)).any()


def check_spacetime(data: SpaceTimeData) -> None:
    assert isinstance(data, SpaceTimeData)
    n, T = data.cases.shape
    assert n == len(data.ids) >= 1 and T == len(data.interval_starts) >= 1
    assert data.cases.dtype == np.int64 and (data.cases >= 0).all()
    assert 0 < data.cases.sum() <= MAX_COUNT
    assert np.isfinite(data.coords).all()
    assert (data.interval_ends >= data.interval_starts).all()
    if data.expected is not None:
        assert np.isfinite(data.expected).all() and (data.expected >= 0).all()
        assert data.expected.sum() == pytest.approx(data.cases.sum(), rel=1e-9)


def outcome(call, check) -> None:
    """The only outcomes allowed: a valid result, or one of scan's two error types."""
    try:
        result = call()
    except ALLOWED as exc:
        assert str(exc)            # a message, never an empty error
        return
    check(result)


# ---------------------------------------------------------------------------- the properties
def fuzz_csv(edits, model):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_bytes(apply(SEEDS["csv"], edits))
        outcome(lambda: read_csv(path, crs=None, model=model), check_area)


def fuzz_spacetime_csv(edits, unit):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_bytes(apply(SEEDS["st"], edits))
        outcome(lambda: read_spacetime_csv(path, crs=None, time_aggregation=unit),
                check_spacetime)


def fuzz_satscan(which, edits, model):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name, text in SEEDS.items():
            if name in ("cas", "pop", "geo", "ctl", "prm"):
                data = apply(text, edits) if name == which else text.encode()
                (folder / f"a.{name}").write_bytes(data)
        files = {k: folder / f"a.{k}" for k in ("cas", "geo", "pop", "ctl")}
        if which == "prm":
            outcome(lambda: satscan_prm_spacetime(folder / "a.prm")[0], check_spacetime)
            try:
                prm_settings(folder / "a.prm")
            except ALLOWED:
                pass
            return
        if model == "bernoulli":
            outcome(lambda: read_satscan(files["cas"], geo=files["geo"], ctl=files["ctl"],
                                         model="bernoulli"), check_area)
        else:
            outcome(lambda: read_satscan(files["cas"], geo=files["geo"], pop=files["pop"]),
                    check_area)
            outcome(lambda: read_satscan_spacetime(files["cas"], geo=files["geo"],
                                                   pop=files["pop"], time_aggregation="day"),
                    check_spacetime)


MODELS = st.sampled_from(["poisson", "bernoulli"])
UNITS = st.sampled_from([None, "day", "week", "month", "year"])
SATSCAN_FILES = st.sampled_from(["cas", "pop", "geo", "ctl", "prm"])


def test_seeds_are_valid():
    """The unmutated files read cleanly, so every failure below comes from a mutation."""
    fuzz_csv([], "poisson")
    fuzz_spacetime_csv([], None)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name, text in SEEDS.items():
            (folder / f"a.{name}").write_text(text)
        check_area(read_csv(folder / "a.csv", crs=None))
        check_spacetime(read_spacetime_csv(folder / "a.st", crs=None))
        check_area(read_satscan(folder / "a.cas", geo=folder / "a.geo", pop=folder / "a.pop"))
        check_area(read_satscan(folder / "a.cas", geo=folder / "a.geo", ctl=folder / "a.ctl",
                                model="bernoulli"))
        check_spacetime(read_satscan_spacetime(folder / "a.cas", geo=folder / "a.geo",
                                               pop=folder / "a.pop", time_aggregation="day"))
        check_spacetime(satscan_prm_spacetime(folder / "a.prm")[0])


@QUICK
@given(edits_st, MODELS)
def test_csv_mutations(edits, model):
    fuzz_csv(edits, model)


@QUICK
@given(edits_st, UNITS)
def test_spacetime_csv_mutations(edits, unit):
    fuzz_spacetime_csv(edits, unit)


@QUICK
@given(SATSCAN_FILES, edits_st, MODELS)
def test_satscan_mutations(which, edits, model):
    fuzz_satscan(which, edits, model)


@QUICK
@given(st.binary(max_size=600), st.sampled_from(["csv", "st", "cas", "pop", "geo", "prm"]))
def test_random_bytes(data, which):
    def edit(_text):
        return data

    if which == "csv":
        fuzz_csv([edit], "poisson")
    elif which == "st":
        fuzz_spacetime_csv([edit], None)
    else:
        fuzz_satscan(which, [edit], "poisson")


@pytest.mark.slow
@THOROUGH
@given(edits_st, MODELS, UNITS)
def test_csv_mutations_thorough(edits, model, unit):
    fuzz_csv(edits, model)
    fuzz_spacetime_csv(edits, unit)


@pytest.mark.slow
@THOROUGH
@given(SATSCAN_FILES, edits_st, MODELS)
def test_satscan_mutations_thorough(which, edits, model):
    fuzz_satscan(which, edits, model)

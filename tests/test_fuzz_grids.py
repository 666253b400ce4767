"""Fuzzing the exposure readers (issue 8): random bytes and random mutations of small valid LAEI
CSV, ESRI ASCII and per-location files.  The only outcomes allowed are a valid grid Dataset /
table, or a ScanInputError / ScanParameterError -- never another exception, never a grid with
negative or infinite values, never one larger than MAX_GRID_CELLS.

Deterministic (``derandomize=True``, no example database) and fast: a few hundred small files.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scan.errors import ScanInputError, ScanParameterError
from scan.exposure import grids
from scan.exposure.grids import read_grid
from scan.exposure.summary import read_location_table

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

LAEI_CSV = "x,y,conc\n" + "".join(f"{545010 + 20 * i},{184010 + 20 * j},{20 + i + 0.5 * j}\n"
                                  for j in range(3) for i in range(4))
ASC = ("ncols 4\nnrows 3\nxllcorner 545000\nyllcorner 184000\ncellsize 20\n"
       "NODATA_value -9999\n0 1 2 3\n10 11 12 13\n20 21 22 -9999\n")
TABLE = "id,NO2,PM2.5\nA,30.5,11.2\nB,41.0,12.0\nC,,10.1\nD,-9999,9\n"

TOKENS = ["1e308", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity", "-9999", "-0",
          "-1", "1_000", "0x10", "", " ", "99999999999999999999", "1e-320", "10000000000", "2.5",
          "0", "ncols", "\"", ",", "\t", "é", "NA", "null"]
EPSILONS = [1e-4, 1e-9, 0.5, 7.0, -20.0, 1e6]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def mutate(text: str, ops) -> bytes:
    """Apply structured (text) mutations, then byte-level ones."""
    raw_ops = []
    for op, a, b, c in ops:
        lines = _lines(text)
        k = a % len(lines)
        if op == "token":          # replace the c-th number of line k by a hostile token
            nums = list(_NUMBER.finditer(lines[k]))
            if nums:
                m = nums[c % len(nums)]
                lines[k] = lines[k][:m.start()] + TOKENS[b % len(TOKENS)] + lines[k][m.end():]
        elif op == "nudge":        # move a number off its lattice by a small or large step
            nums = list(_NUMBER.finditer(lines[k]))
            if nums:
                m = nums[c % len(nums)]
                value = float(m.group()) + EPSILONS[b % len(EPSILONS)]
                lines[k] = lines[k][:m.start()] + repr(value) + lines[k][m.end():]
        elif op == "drop_field":   # a missing column in the header or in one row
            sep = "," if "," in lines[k] else " "
            fields = lines[k].split(sep)
            if len(fields) > 1:
                del fields[c % len(fields)]
                lines[k] = sep.join(fields)
        elif op == "dup_line":
            lines.insert(b % (len(lines) + 1), lines[k])
        elif op == "del_line":
            del lines[k]
        elif op == "swap":
            j = b % len(lines)
            lines[k], lines[j] = lines[j], lines[k]
        else:
            raw_ops.append((op, a, b, c))
        text = "\n".join(lines)
    data = text.encode("utf-8")
    for op, a, b, c in raw_ops:
        n = max(1, len(data))
        if op == "truncate":
            data = data[:a % (len(data) + 1)]
        elif op == "flip":
            i = a % n
            if data:
                data = data[:i] + bytes([data[i] ^ (1 + b % 255)]) + data[i + 1:]
        elif op == "insert":
            i = a % (len(data) + 1)
            data = data[:i] + bytes([b % 256, c % 256]) + data[i:]
    return data


OPS = st.lists(st.tuples(st.sampled_from(["token", "nudge", "drop_field", "dup_line", "del_line",
                                          "swap", "truncate", "flip", "insert"]),
                         st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000)),
               min_size=1, max_size=4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def assert_valid_grid(ds) -> None:
    assert isinstance(ds, xr.Dataset)
    assert ds.sizes["x"] * ds.sizes["y"] <= grids.MAX_GRID_CELLS
    for axis in ("x", "y"):
        c = ds[axis].to_numpy()
        assert c.dtype == np.float64 and np.isfinite(c).all()
        assert (np.diff(c) > 0).all()
    assert list(ds.data_vars)
    for name, da in ds.data_vars.items():
        assert name in ("NO2", "PM10", "PM25")
        assert da.dims == ("y", "x") and da.dtype == np.float64
        v = da.to_numpy()
        assert not np.isinf(v).any() and not (v < 0).any()


def assert_valid_table(table) -> None:
    assert table.index.is_unique
    assert all(c in ("NO2", "PM10", "PM25") for c in table.columns)
    for c in table.columns:
        v = table[c].to_numpy()
        assert v.dtype == np.float64 and not np.isinf(v).any() and not (v < 0).any()


def read_or_refuse(read, path, check) -> str:
    try:
        result = read(path)
    except (ScanInputError, ScanParameterError) as err:
        assert str(err)  # one message, with something in it
        return "refused"
    check(result)
    return "read"


@FUZZ
@given(ops=OPS, bbox=st.booleans())
def test_mutated_laei_csv(folder, ops, bbox):
    path = folder / "laei_LAEI2019v3_CorNOx15_NO2.csv"
    path.write_bytes(mutate(LAEI_CSV, ops))
    box = (545_000, 184_000, 545_045, 184_045) if bbox else None
    read_or_refuse(lambda p: read_grid(p, bbox=box), path, assert_valid_grid)


@FUZZ
@given(ops=OPS, bbox=st.booleans())
def test_mutated_asc(folder, ops, bbox):
    path = folder / "rowcol_PM10.asc"
    path.write_bytes(mutate(ASC, ops))
    box = (545_000, 184_000, 545_045, 184_045) if bbox else None
    read_or_refuse(lambda p: read_grid(p, bbox=box), path, assert_valid_grid)


@FUZZ
@given(ops=OPS)
def test_mutated_location_table(folder, ops):
    path = folder / "locations.csv"
    path.write_bytes(mutate(TABLE, ops))
    read_or_refuse(read_location_table, path, assert_valid_table)


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from(["_NO2.csv", "_PM10.asc", ".nc",
                                                             "_NO2.txt"]))
def test_random_bytes_as_grid(folder, data, suffix):
    path = folder / ("random" + suffix)
    path.write_bytes(data)
    read_or_refuse(read_grid, path, assert_valid_grid)


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_as_location_table(folder, data):
    path = folder / "random.csv"
    path.write_bytes(data)
    read_or_refuse(read_location_table, path, assert_valid_table)


@FUZZ
@given(prefix=st.sampled_from([b"x,y,conc\n", b"ncols 4\nnrows 3\n", b"id,NO2\n"]),
       data=st.binary(max_size=400), suffix=st.sampled_from(["_NO2.csv", "_PM10.asc"]))
def test_valid_header_then_random_bytes(folder, prefix, data, suffix):
    path = folder / ("hdr" + suffix)
    path.write_bytes(prefix + data)
    read_or_refuse(read_grid, path, assert_valid_grid)


@pytest.fixture(scope="module")
def netcdf_bytes(folder):
    x = 545_010.0 + 20 * np.arange(4)
    y = 184_010.0 + 20 * np.arange(3)
    ds = grids.make_dataset({"NO2": np.arange(12.0).reshape(3, 4)}, x, y, source="fuzz")
    return grids.write_netcdf(ds, folder / "seed.nc").read_bytes()


# Each NetCDF example starts a child process to read the metadata (libhdf5 can loop for ever on
# a corrupt file): fewer examples keep this file fast.
NETCDF_FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                       suppress_health_check=[HealthCheck.too_slow])


@NETCDF_FUZZ
@given(cut=st.integers(0, 100_000))
def test_truncated_netcdf(folder, netcdf_bytes, cut):
    path = folder / "cut.nc"
    path.write_bytes(netcdf_bytes[:cut % len(netcdf_bytes)])
    read_or_refuse(read_grid, path, assert_valid_grid)


@NETCDF_FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 100_000), st.integers(1, 255)), min_size=1,
                      max_size=4))
def test_netcdf_with_flipped_bytes(folder, netcdf_bytes, flips):
    data = bytearray(netcdf_bytes)
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = folder / "flip.nc"
    path.write_bytes(bytes(data))
    read_or_refuse(read_grid, path, assert_valid_grid)


def test_the_mutations_reach_both_outcomes(folder):
    """A guard on the fuzzer itself: the seeds read, and mutations can still read or be refused
    (a fuzzer whose every example is refused at the first byte tests nothing)."""
    outcomes = set()
    for seed_text, name in ((LAEI_CSV, "laei_NO2.csv"), (ASC, "g_PM10.asc")):
        path = folder / name
        path.write_text(seed_text)
        assert read_or_refuse(read_grid, path, assert_valid_grid) == "read"
        for ops in ([("token", 3, 6, 2)], [("nudge", 4, 0, 0)], [("dup_line", 5, 5, 0)],
                    [("token", 7, 8, 3)]):
            path.write_bytes(mutate(seed_text, ops))
            outcomes.add(read_or_refuse(read_grid, path, assert_valid_grid))
    assert outcomes == {"read", "refused"}
    assert math.isfinite(grids.MAX_GRID_CELLS)

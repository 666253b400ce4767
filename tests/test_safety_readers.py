"""Hostile or unlucky input files: one clear message naming the file (and line, field), never a
traceback, never a silent acceptance.  Each hazard of issue 8 that concerns the readers is
reproduced here as a user meets it: through the reader functions and, where the issue names a
CLI symptom, through ``scan.cli.main`` (exit code 2, ``scan: error: ...`` on stderr)."""
from __future__ import annotations

import codecs
import os
from pathlib import Path

import numpy as np
import pytest

from scan.cli import main
from scan.data import MAX_COUNT, study_area
from scan.errors import ScanInputError, ScanParameterError
from scan.io.csv import parse_number, read_csv
from scan.io.prm import prm_settings, satscan_prm_spacetime
from scan.io.satscan import (
    read_counts,
    read_satscan,
    read_satscan_data,
    read_satscan_spacetime,
)
from scan.io.spacetime_csv import read_spacetime_csv
from scan.io.text import CSV_FIELD_LIMIT, read_text

HEADER = "id,x,y,cases,population"
GOOD_CSV = HEADER + "\nA,0,0,3,100\nB,1,0,1,200\nC,0,1,2,150\n"
GOOD_ST = ("id,x,y,time,cases,population\n"
           "A,0,0,2020-01-01,1,100\nA,0,0,2020-01-02,3,100\n"
           "B,1,0,2020-01-01,2,200\nB,1,0,2020-01-02,1,200\n")
GOOD_CAS = "A 3 2020/1/1\nB 1 2020/1/2\nC 2 2020/1/2\n"
GOOD_POP = "A 2020 100\nB 2020 200\nC 2020 150\n"
GOOD_GEO = "A 0 0\nB 1 0\nC 0 1\n"
GOOD_CTL = "A 10 2020/1/1\nB 20 2020/1/2\nC 30 2020/1/2\n"
PRM = """[Input]
CaseFile={cas}
PrecisionCaseTimes=3
StartDate=2020/1/1
EndDate=2020/1/2
PopulationFile={pop}
CoordinatesFile={geo}
CoordinatesType=0
[Analysis]
AnalysisType=3
ModelType=0
ScanAreas=1
TimeAggregationUnits=3
TimeAggregationLength=1
[Inference]
MonteCarloReps=9
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def satscan_files(folder: Path, cas=GOOD_CAS, pop=GOOD_POP, geo=GOOD_GEO, ctl=GOOD_CTL):
    return (write(folder, "a.cas", cas), write(folder, "a.pop", pop),
            write(folder, "a.geo", geo), write(folder, "a.ctl", ctl))


def cli_error(capsys, argv) -> str:
    """Run the CLI; it must exit 2 with one 'scan: error:' line and no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scan: error: ") and "Traceback" not in err
    return err


def spatial(path, out) -> list:
    return ["spatial", path, "--crs", "none", "--replications", "9", "--quiet", "--out", out]


# ======================================================================== files that cannot be read
def test_missing_input_file(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    with pytest.raises(ScanInputError, match=r"nope\.csv: CSV file was not found \(looked for "):
        read_csv(missing, crs=None)
    with pytest.raises(ScanInputError, match=r"nope\.csv: CSV file was not found"):
        read_spacetime_csv(missing, crs=None)
    err = cli_error(capsys, spatial(missing, tmp_path / "out"))
    assert "nope.csv: CSV file was not found" in err
    err = cli_error(capsys, ["spacetime", missing, "--quiet", "--out", tmp_path / "out"])
    assert "nope.csv: CSV file was not found" in err


def test_path_below_a_file_is_not_found(tmp_path):
    path = write(tmp_path, "file.csv", GOOD_CSV)
    with pytest.raises(ScanInputError, match=r"CSV file was not found: a part of the path"):
        read_csv(path / "inner.csv", crs=None)


def test_input_that_is_a_folder(tmp_path, capsys):
    with pytest.raises(ScanInputError, match=r"CSV file is a folder, not a file"):
        read_csv(tmp_path, crs=None)
    with pytest.raises(ScanInputError, match=r"CSV file is a folder, not a file"):
        read_spacetime_csv(tmp_path, crs=None)
    cas, pop, geo, _ = satscan_files(tmp_path)
    with pytest.raises(ScanInputError, match=r"coordinates file is a folder"):
        read_satscan(cas, geo=tmp_path, pop=pop)
    err = cli_error(capsys, spatial(tmp_path, tmp_path / "out"))
    assert "is a folder, not a file" in err


def test_file_without_read_permission(tmp_path, capsys):
    path = write(tmp_path, "locked.csv", GOOD_CSV)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user (root) who can read a file without permission bits")
        with pytest.raises(ScanInputError, match=r"locked\.csv: CSV file cannot be read: "
                                                 r"permission denied"):
            read_csv(path, crs=None)
        err = cli_error(capsys, spatial(path, tmp_path / "out"))
        assert "permission denied" in err
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_device_is_refused_before_reading_forever():
    with pytest.raises(ScanInputError, match=r"/dev/zero: CSV file is not a regular file"):
        read_csv("/dev/zero", crs=None)


@pytest.mark.parametrize("flag, role", [("--cas", "case file"), ("--geo", "coordinates file"),
                                        ("--pop", "population file")])
def test_missing_satscan_file_from_the_cli(tmp_path, capsys, flag, role):
    cas, pop, geo, _ = satscan_files(tmp_path)
    files = {"--cas": cas, "--geo": geo, "--pop": pop}
    files[flag] = tmp_path / "missing.x"
    argv = ["spatial", "--quiet", "--replications", "9", "--out", tmp_path / "out"]
    for key, value in files.items():
        argv += [key, value]
    err = cli_error(capsys, argv)
    assert f"missing.x: {role} was not found" in err


def test_missing_control_file(tmp_path, capsys):
    cas, _, geo, _ = satscan_files(tmp_path)
    with pytest.raises(ScanInputError, match=r"missing\.ctl: control file was not found"):
        read_satscan(cas, geo=geo, ctl=tmp_path / "missing.ctl", model="bernoulli")
    err = cli_error(capsys, ["spatial", "--cas", cas, "--geo", geo, "--ctl",
                             tmp_path / "missing.ctl", "--model", "bernoulli", "--quiet",
                             "--out", tmp_path / "out"])
    assert "missing.ctl: control file was not found" in err


def test_every_satscan_file_is_checked_before_any_is_parsed(tmp_path):
    """A missing .geo is reported even when the (big) case file has a bad line."""
    cas, pop, _, _ = satscan_files(tmp_path, cas="A 1 2020/1/1\nB x 2020/1/1\n")
    with pytest.raises(ScanInputError, match=r"nope\.geo: coordinates file was not found"):
        read_satscan_data(cas, geo=tmp_path / "nope.geo", pop=pop)


def test_missing_prm_and_missing_file_named_inside_it(tmp_path, capsys):
    with pytest.raises(ScanInputError, match=r"nope\.prm: parameter file was not found"):
        satscan_prm_spacetime(tmp_path / "nope.prm")
    satscan_files(tmp_path)
    prm = write(tmp_path, "a.prm", PRM.format(cas="a.cas", pop="gone.pop", geo="a.geo"))
    match = (r"a\.prm, line 6, field 'PopulationFile': the file it names, 'gone\.pop', was not "
             r"found \(looked for .*gone\.pop\); paths are relative to the \.prm's folder")
    with pytest.raises(ScanInputError, match=match):
        satscan_prm_spacetime(prm)
    err = cli_error(capsys, ["spacetime", "--prm", prm, "--quiet", "--out", tmp_path / "out"])
    assert "a.prm, line 6, field 'PopulationFile': the file it names, 'gone.pop'" in err
    windows = write(tmp_path, "w.prm", PRM.format(cas=r"C:\Users\me\a.cas", pop="a.pop",
                                                  geo="a.geo"))
    with pytest.raises(ScanInputError, match=r"line 2, field 'CaseFile'.*looks like a Windows "
                                             r"path"):
        satscan_prm_spacetime(windows)
    no_case = write(tmp_path, "n.prm", PRM.format(cas="", pop="a.pop", geo="a.geo"))
    with pytest.raises(ScanInputError, match=r"n\.prm, line 2, field 'CaseFile': no CaseFile "
                                             r"given"):
        satscan_prm_spacetime(no_case)


def test_prm_that_reads_fine_still_works(tmp_path):
    satscan_files(tmp_path)
    prm = write(tmp_path, "a.prm", PRM.format(cas="a.cas", pop="a.pop", geo="a.geo"))
    data, kwargs = satscan_prm_spacetime(prm)
    assert data.total_cases == 6 and data.n_intervals == 2
    assert kwargs["n_replications"] == 9


# ============================================================================ CSV field limit
def test_field_over_the_csv_limit(tmp_path, capsys):
    huge = "9" * (CSV_FIELD_LIMIT + 1)
    path = write(tmp_path, "big.csv", HEADER + f"\nA,0,0,1,10\nB,1,1,1,{huge}\n")
    match = (r"big\.csv, line 3: a field is longer than 131,072 characters.*opening quote")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    quote = write(tmp_path, "quote.csv", HEADER + '\nA,0,0,1,10\n"B,1,1,1,10\n'
                  + "C,2,2,2,20\n" * 20_000)
    with pytest.raises(ScanInputError, match=r"quote\.csv, line 3: a field is longer"):
        read_csv(quote, crs=None)
    st_path = write(tmp_path, "st.csv", GOOD_ST + f"B,1,0,2020-01-03,{huge},1\n")
    with pytest.raises(ScanInputError, match=r"st\.csv, line 6: a field is longer"):
        read_spacetime_csv(st_path, crs=None)
    err = cli_error(capsys, spatial(path, tmp_path / "out"))
    assert "line 3: a field is longer than 131,072 characters" in err


# ============================================================================ encodings
def test_non_utf8_byte_names_the_line(tmp_path, capsys):
    data = (HEADER + "\nA,0,0,1,10\nSt Étienne,1,1,1,10\n").encode("cp1252")
    path = write(tmp_path, "latin.csv", data)
    match = (r"latin\.csv, line 3: byte 0xc9 \(column 4\) is not UTF-8 text; .*save it as "
             r"UTF-8")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    with pytest.raises(ScanInputError, match=r"line 6: byte 0xc9"):
        read_spacetime_csv(write(tmp_path, "st.csv", GOOD_ST.encode() + b"\xc9,0,0,2020,1,1\n"),
                           crs=None)
    cas = write(tmp_path, "a.cas", "A 1\nB\xa0 1\n".encode("latin-1"))
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2: byte 0xa0"):
        read_counts(cas)
    err = cli_error(capsys, spatial(path, tmp_path / "out"))
    assert "latin.csv, line 3: byte 0xc9" in err and "save it as UTF-8" in err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_files_with_a_byte_order_mark_are_decoded(tmp_path, encoding):
    """Decided: a byte-order mark says unambiguously how to read the file, so it is read."""
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    raw = bom + GOOD_CSV.encode(encoding)
    area = read_csv(write(tmp_path, "u.csv", raw), crs=None)
    same = read_csv(write(tmp_path, "plain.csv", GOOD_CSV), crs=None)
    assert area.ids.tolist() == same.ids.tolist() == ["A", "B", "C"]
    np.testing.assert_array_equal(area.cases, same.cases)
    st = read_spacetime_csv(write(tmp_path, "st.csv", bom + GOOD_ST.encode(encoding)),
                            crs=None)
    assert st.total_cases == 7


def test_utf16_satscan_files_are_decoded(tmp_path, capsys):
    cas, pop, geo, _ = satscan_files(tmp_path)
    write(tmp_path, "u.cas", GOOD_CAS.encode("utf-16"))
    area = read_satscan(tmp_path / "u.cas", geo=geo, pop=pop)
    assert area.cases.tolist() == [3, 1, 2]
    out = tmp_path / "out"
    assert main(["spatial", "--cas", str(tmp_path / "u.cas"), "--geo", str(geo), "--pop",
                 str(pop), "--replications", "9", "--seed", "1", "--quiet", "--out",
                 str(out)]) == 0
    assert (out / "result.json").exists()


def test_utf16_without_byte_order_mark(tmp_path):
    path = write(tmp_path, "u.csv", GOOD_CSV.encode("utf-16-le"))
    with pytest.raises(ScanInputError, match=r"u\.csv: CSV file looks like UTF-16 text without "
                                             r"a byte-order mark; save it as UTF-8"):
        read_csv(path, crs=None)


def test_broken_utf16(tmp_path):
    path = write(tmp_path, "u.csv", codecs.BOM_UTF16_LE + b"i\x00d\x00\x00\xdc")
    with pytest.raises(ScanInputError, match=r"starts with a UTF-16 byte-order mark but is not "
                                             r"valid UTF-16"):
        read_text(path, what="CSV file")


# ============================================================================ empty and binary
@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_files(tmp_path, capsys, text):
    path = write(tmp_path, "e.csv", text)
    with pytest.raises(ScanInputError, match=r"e\.csv, line 1: the file is empty"):
        read_csv(path, crs=None)
    with pytest.raises(ScanInputError, match=r"e\.csv, line 1: the file is empty"):
        read_spacetime_csv(path, crs=None)
    cas, pop, geo, _ = satscan_files(tmp_path)
    with pytest.raises(ScanInputError, match=r"e\.csv: no records; expected '<location id> "
                                             r"<#cases>"):
        read_satscan(path, geo=geo, pop=pop)
    with pytest.raises(ScanInputError, match=r"e\.csv: no records; expected '<location id> "
                                             r"<date> <population>"):
        read_satscan(cas, geo=geo, pop=path)
    with pytest.raises(ScanInputError, match=r"e\.csv: no records"):
        read_satscan(cas, geo=path, pop=pop)
    with pytest.raises(ScanInputError, match=r"e\.csv: no settings"):
        satscan_prm_spacetime(path)
    assert "the file is empty" in cli_error(capsys, spatial(path, tmp_path / "out"))


def test_header_only(tmp_path):
    with pytest.raises(ScanInputError, match=r"h\.csv, line 2: no data rows after the header"):
        read_spacetime_csv(write(tmp_path, "h.csv", "id,x,y,time,cases\n"), crs=None)


@pytest.mark.parametrize("data, match", [
    (b"PK\x03\x04" + bytes(range(256)), r"CSV file is a zip archive \(an Excel \.xlsx workbook "
                                        r"is one\): export the sheet as 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), r"an old Excel \.xls workbook"),
    (b"\x1f\x8b\x08\x00" + bytes(32), r"a gzip-compressed file: decompress it first"),
    (b"id,x,y\n\x00\x01\x02\x03" * 50, r"line 2: CSV file holds a NUL byte \(byte 7 of the "
                                       r"file\): it is a binary file"),
    (bytes(range(128, 256)), r"line 1: byte 0x80 \(column 1\) is not UTF-8 text"),
    (bytes(4096), r"line 1: CSV file holds a NUL byte \(byte 0 of the file\): it is a binary"),
])
def test_binary_files(tmp_path, capsys, data, match):
    path = write(tmp_path, "b.csv", data)
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    with pytest.raises(ScanInputError, match=match):
        read_spacetime_csv(path, crs=None)
    with pytest.raises(ScanInputError, match=match.replace("CSV file", "case file")):
        read_counts(path)
    cli_error(capsys, spatial(path, tmp_path / "out"))


# ============================================================================ silent acceptances
def test_duplicated_column_is_refused(tmp_path, capsys):
    path = write(tmp_path, "d.csv", HEADER + ",cases\nA,0,0,1,10,5\nB,1,1,1,10,6\n")
    match = (r"d\.csv, line 1, field 'cases': column 'cases' appears 2 times in the header "
             r"\(columns 4, 6\); rename or remove the extra copies")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    st = write(tmp_path, "s.csv", "id,x,y,time,cases, cases\nA,0,0,2020,1,2\n")
    with pytest.raises(ScanInputError, match=r"column 'cases' appears 2 times"):
        read_spacetime_csv(st, crs=None)
    assert "column 'cases' appears 2 times" in cli_error(capsys, spatial(path, tmp_path / "o"))


def test_duplicates_of_unused_columns_are_fine(tmp_path):
    area = read_csv(write(tmp_path, "n.csv", HEADER + ",note,note\nA,0,0,1,10,a,b\n"
                          "B,1,1,1,10,c,d\n"), crs=None)
    assert area.n_locations == 2


def test_ids_are_compared_without_surrounding_spaces(tmp_path, capsys):
    path = write(tmp_path, "w.csv", HEADER + "\nA1,0,0,1,10\nB,1,1,1,10\nA1 ,2,2,1,10\n")
    match = (r"w\.csv, line 4, field 'id': location id 'A1' already appears on line 2; ids must "
             r"be unique \(ids are compared without surrounding spaces: 'A1' there, 'A1 ' here\)")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    assert "location id 'A1' already appears on line 2" in cli_error(
        capsys, spatial(path, tmp_path / "out"))
    padded = read_csv(write(tmp_path, "p.csv", HEADER + "\n  A1 ,0,0,1,10\nB,1,1,1,10\n"),
                      crs=None)
    assert padded.ids.tolist() == ["A1", "B"]


def test_spacetime_ids_with_spaces_are_one_location(tmp_path):
    path = write(tmp_path, "s.csv", "id,x,y,time,cases\nA1,0,0,2020-01-01,1\n"
                 "A1 ,0,0,2020-01-02,2\nB,1,1,2020-01-01,1\n")
    data = read_spacetime_csv(path, crs=None)
    assert data.ids.tolist() == ["A1", "B"]
    assert data.cases.tolist() == [[1, 2], [1, 0]]


@pytest.mark.parametrize("value, match", [
    ("1_000", r"'1_000' is not a number: digit separators are not allowed; write 1000"),
    ("0x10", r"'0x10' is not a number"),
    ("nan", r"'nan' is not a finite number"),
    ("inf", r"'inf' is not a finite number"),
    ("-Infinity", r"'-Infinity' is not a finite number"),
    ("1e999", r"'1e999' is not a finite number \(too large"),
    ("１２", r"'１２' is not a number"),
    ("1,5", r"'1,5' is not a number: write the decimal separator as a point \(1\.5\)"),
])
def test_numbers_are_plain_decimals(value, match):
    with pytest.raises(ScanInputError, match=r"f\.csv, line 3, field 'cases': " + match):
        parse_number(value, file="f.csv", line=3, field="cases")


def test_plain_numbers_still_parse():
    for text, value in [("12", 12.0), (" -3.5 ", -3.5), ("+.5", 0.5), ("1e-3", 1e-3),
                        ("7.", 7.0), ("2E+2", 200.0)]:
        assert parse_number(text, file="f", line=1, field="x") == value


def test_underscores_refused_everywhere(tmp_path, capsys):
    path = write(tmp_path, "u.csv", HEADER + "\nA,0,0,1_000,10\nB,1,1,1,10\n")
    with pytest.raises(ScanInputError, match=r"line 2, field 'cases': '1_000' is not a number"):
        read_csv(path, crs=None)
    assert "'1_000' is not a number" in cli_error(capsys, spatial(path, tmp_path / "out"))
    with pytest.raises(ScanInputError, match=r"line 2, field 'cases': '1_0' is not a number"):
        read_spacetime_csv(write(tmp_path, "s.csv", "id,x,y,time,cases\nA,0,0,2020,1_0\n"),
                           crs=None)
    with pytest.raises(ScanInputError, match=r"a\.cas, line 1, field '#cases': '1_000'"):
        read_counts(write(tmp_path, "a.cas", "A 1_000\n"))
    with pytest.raises(ScanInputError, match=r"p\.prm, line 1, field 'MonteCarloReps': '9_999' "
                                             r"is not an integer"):
        prm_settings(write(tmp_path, "p.prm", "MonteCarloReps=9_999\n"))


def test_cases_beyond_32_bits_are_refused(tmp_path, capsys):
    path = write(tmp_path, "big.csv", HEADER + "\nA,0,0,1e19,10\nB,1,1,1,10\n")
    match = (r"big\.csv, line 2, field 'cases': '1e19' is more than 2,147,483,647, the largest "
             r"count scan can hold")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    err = cli_error(capsys, spatial(path, tmp_path / "out"))
    assert "'1e19' is more than 2,147,483,647" in err
    assert not (tmp_path / "out").exists()


def test_total_cases_beyond_32_bits(tmp_path, capsys):
    path = write(tmp_path, "t.csv", HEADER + "\nA,0,0,2000000000,10\nB,1,1,2000000000,10\n")
    with pytest.raises(ScanInputError, match=r"t\.csv, field 'cases': the total cases is 4e\+09, "
                                             r"more than 2,147,483,647"):
        read_csv(path, crs=None)
    assert "more than 2,147,483,647" in cli_error(capsys, spatial(path, tmp_path / "out"))
    # several case records of one location, each within the limit, add up beyond it
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 2000000000\nA 2000000000\nB 1\n")
    with pytest.raises(ScanInputError, match=r"cases of location 'A' is 4e\+09, more than "
                                             r"2,147,483,647"):
        read_satscan(cas, geo=geo, pop=pop)
    st = write(tmp_path, "s.csv", "id,x,y,time,cases\nA,0,0,2020,2000000000\n"
               "B,1,1,2020,2000000000\n")
    with pytest.raises(ScanInputError, match=r"s\.csv, field 'cases': the cases add up to "
                                             r"4,000,000,000, more than 2,147,483,647"):
        read_spacetime_csv(st, crs=None)
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 2000000000 2020\nB 2000000000 2020\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, field '#cases': the cases add up to "
                                             r"4,000,000,000"):
        read_satscan_spacetime(cas, geo=geo, pop=pop, time_aggregation="year")
    with pytest.raises(ScanInputError, match=r"cases of location 'a' is 3e\+09"):
        study_area(["a", "b"], [0, 1], [0, 1], [3e9, 1], [1, 1], crs=None)
    assert MAX_COUNT == 2**31 - 1


def test_huge_population_gets_the_real_reason(tmp_path, capsys):
    path = write(tmp_path, "p.csv", HEADER + "\nA,0,0,1,1e308\nB,1,1,1,1e308\n")
    match = (r"p\.csv, field 'population': the population values add up to more than a float "
             r"can hold \(1\.8e308; the largest is 1e\+308 at location 'A'\)")
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)
    err = cli_error(capsys, spatial(path, tmp_path / "out"))
    assert "add up to more than a float can hold" in err and "zero population" not in err
    tiny = write(tmp_path, "t.csv", HEADER + "\nA,0,0,1,1e308\nB,1,1,1,1e-30\n")
    with pytest.raises(ScanInputError, match=r"location 'B' has 1 cases but nothing expected: "
                                             r"its population 1e-30 is too small next to the "
                                             r"total 1e\+308"):
        read_csv(tiny, crs=None)
    with pytest.raises(ScanInputError, match=r"line 3, field 'population': 'inf' is not a finite"):
        read_csv(write(tmp_path, "i.csv", HEADER + "\nA,0,0,1,10\nB,1,1,1,inf\n"), crs=None)


def test_zero_population_message_is_kept_when_true(tmp_path):
    path = write(tmp_path, "z.csv", HEADER + "\nA,0,0,1,10\nB,1,1,1,0\n")
    with pytest.raises(ScanInputError, match=r"location 'B' has 1 cases but nothing expected "
                                             r"\(zero population\)"):
        read_csv(path, crs=None)


def test_bernoulli_population_beyond_exact_counting(tmp_path):
    path = write(tmp_path, "b.csv", HEADER + "\nA,0,0,1,9e15\nB,1,1,1,9e15\n")
    with pytest.raises(ScanInputError, match=r"the total population is 1\.8e\+16, more than "
                                             r"9,007,199,254,740,992"):
        read_csv(path, crs=None, model="bernoulli")


@pytest.mark.parametrize("key, value, match", [
    ("MinimumCasesInHighRateClusters", "0", r"'0' is out of range: allowed from 1 to "
                                            r"2,147,483,647"),
    ("MinimumCasesInHighRateClusters", "1e30", r"'1e30' is not an integer"),
    ("MonteCarloReps", "-5", r"'-5' is out of range: allowed from 0"),
    ("MonteCarloReps", "99999999999", r"'99999999999' is out of range: allowed from 0 to "
                                      r"2,147,483,647"),
    ("TimeAggregationLength", "0", r"'0' is out of range: allowed from 1 to 100,000"),
    ("MaxSpatialSizeInPopulationAtRisk", "80", r"'80' is out of range: allowed above 0 up to 50"),
    ("MaxSpatialSizeInPopulationAtRisk", "nan", r"'nan' is not a finite number"),
    ("IterativeScanMaxPValue", "0", r"'0' is out of range: allowed above 0 up to 1"),
    ("MaxSpatialSizeInDistanceFromCenter", "abc", r"'abc' is not a number"),
])
def test_prm_numbers_have_ranges(tmp_path, key, value, match):
    prm = write(tmp_path, "r.prm", f"[Analysis]\n{key}={value}\n")
    with pytest.raises(ScanInputError, match=rf"r\.prm, line 2, field '{key}': {match}"):
        prm_settings(prm)


def test_prm_temporal_size_range(tmp_path):
    satscan_files(tmp_path)
    prm = write(tmp_path, "t.prm", PRM.format(cas="a.cas", pop="a.pop", geo="a.geo")
                + "[Temporal Window]\nMaxTemporalSize=95\n")
    with pytest.raises(ScanInputError, match=r"t\.prm, line 18, field 'MaxTemporalSize': '95' is "
                                             r"out of range: as a percentage of the study "
                                             r"period it is at most 90"):
        satscan_prm_spacetime(prm)
    prm = write(tmp_path, "u.prm", PRM.format(cas="a.cas", pop="a.pop", geo="a.geo")
                + "UseDistanceFromCenterOption=y\n")
    with pytest.raises(ScanInputError, match=r"UseDistanceFromCenterOption=y but there is no "
                                             r"MaxSpatialSizeInDistanceFromCenter"):
        satscan_prm_spacetime(prm)


@pytest.mark.parametrize("kw, match", [
    (dict(aggregation_length=0), r"parameter 'aggregation_length' must be a whole number from 1 "
                                 r"to 100,000; got 0"),
    (dict(aggregation_length=1.5), r"parameter 'aggregation_length' must be a whole number"),
    (dict(aggregation_length=True), r"parameter 'aggregation_length' must be a whole number"),
    (dict(aggregation_length=5, start="2020/1/1", end="2020/1/2"),
     r"parameter 'aggregation_length' must be at most the length of "
     r"the study period \(2 day\(s\)"),
    (dict(time_aggregation="fortnight"), r"parameter 'time_aggregation' must be one of"),
    (dict(start="2020/1/3", end="2020/1/1"), r"parameter 'start/end' must be a study period "
                                             r"that starts before it ends"),
])
def test_spacetime_reader_parameters(tmp_path, kw, match):
    path = write(tmp_path, "s.csv", GOOD_ST)
    kw = {"time_aggregation": "day", **kw}
    with pytest.raises(ScanParameterError, match=match):
        read_spacetime_csv(path, crs=None, **kw)


# ============================================================================ misleading messages
def test_case_date_typo_is_blamed_on_the_case_file(tmp_path, capsys):
    """A .cas date of 2077 with two-digit census years in the .pop: the message names the case
    record and the study period it produced, not just the .pop."""
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 1 1975\nB 1 2077\nC 1 1976\n",
                                     pop="A 75 100\nB 75 100\nC 75 100\n")
    match = (r"a\.pop, line 1, field 'date': two-digit year in '75' is ambiguous: the study "
             r"period 1975-01-01 to 2077-12-31 \(from the case dates: earliest 1975-01-01 on "
             r".*a\.cas line 1, latest 2077-01-01 on .*a\.cas line 2; check them or pass "
             r"start/end\) spans more than 99 years")
    with pytest.raises(ScanInputError, match=match):
        read_satscan(cas, geo=geo, pop=pop)
    # with the study period given, the case record itself is named
    match = (r"a\.cas, line 2, field 'date': date 2077-01-01 is outside the study period "
             r"1975-01-01 to 1995-12-31")
    with pytest.raises(ScanInputError, match=match):
        read_satscan(cas, geo=geo, pop=pop, start="1975", end="1995")
    with pytest.raises(ScanInputError, match=match):
        read_satscan_spacetime(cas, geo=geo, pop=pop, start="1975", end="1995",
                               time_aggregation="year")
    err = cli_error(capsys, ["spatial", "--cas", cas, "--geo", geo, "--pop", pop, "--start",
                             "1975", "--end", "1995", "--quiet", "--out", tmp_path / "out"])
    assert "a.cas, line 2, field 'date': date 2077-01-01 is outside the study period" in err
    err = cli_error(capsys, ["spacetime", "--cas", cas, "--geo", geo, "--pop", pop,
                             "--time-aggregation", "year", "--quiet", "--out", tmp_path / "o"])
    assert "a.cas line 2" in err


def test_case_outside_period_reported_before_the_population_is_read(tmp_path):
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 1 2020/1/1\nB 1 2021/6/1\n",
                                     pop="A 2020 100\nB 2020 x\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2, field 'date': date 2021-06-01 is "
                                             r"outside the study period 2020-01-01 to "
                                             r"2020-12-31"):
        read_satscan(cas, geo=geo, pop=pop, start="2020", end="2020")


def test_spacetime_csv_date_outside_period_names_the_line(tmp_path, capsys):
    path = write(tmp_path, "s.csv", GOOD_ST + "B,1,0,2021-05-01,1,200\n")
    match = (r"s\.csv, line 6, field 'time': case date 2021-05-01 is outside the study period "
             r"2020-01-01 to 2020-01-02")
    with pytest.raises(ScanInputError, match=match):
        read_spacetime_csv(path, crs=None, start="2020/1/1", end="2020/1/2")
    err = cli_error(capsys, ["spacetime", path, "--crs", "none", "--start", "2020/1/1", "--end",
                             "2020/1/2", "--quiet", "--out", tmp_path / "out"])
    assert "line 6, field 'time': case date 2021-05-01 is outside" in err


def test_far_date_typo_does_not_build_millions_of_intervals(tmp_path, capsys):
    path = write(tmp_path, "s.csv", GOOD_ST + "B,1,0,9999-12-31,1,200\n")
    match = (r"s\.csv: the study period 2020-01-01 to 9999-12-31 holds about 2,914,\d{3} "
             r"intervals of 1 day\(s\), more than the 100,000 scan builds; the earliest record "
             r"is 2020-01-01 on line 2 and the latest 9999-12-31 on line 6 of .*s\.csv; check "
             r"the dates")
    with pytest.raises(ScanInputError, match=match):
        read_spacetime_csv(path, crs=None)
    assert "latest 9999-12-31 on line 6" in cli_error(
        capsys, ["spacetime", path, "--crs", "none", "--quiet", "--out", tmp_path / "out"])
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 1 2020/1/1\nB 1 9999/1/1\n")
    with pytest.raises(ScanInputError, match=r"a\.cas: the study period .* the latest "
                                             r"9999-01-01 on line 2"):
        read_satscan_spacetime(cas, geo=geo, pop=pop, time_aggregation="day")


@pytest.mark.parametrize("text, match", [
    ("12345/1/1", r"a part has more than four digits"),
    ("0/1/1/", r"expected digits separated by '/'"),
    ("٢٠٢٠", r"expected digits separated by '/'"),
    ("0000/1/1", r"year 0 does not exist"),
    ("9" * 5000, r"a part has more than four digits"),
])
def test_bad_dates_in_case_files(tmp_path, text, match):
    with pytest.raises(ScanInputError, match=r"a\.cas, line 1, field 'date': .*" + match):
        read_counts(write(tmp_path, "a.cas", f"A 1 {text}\n"))


def test_populations_too_small_or_too_large_for_a_float(tmp_path, capsys):
    tiny = write(tmp_path, "t.csv", HEADER + "\nA,0,0,5,1e-320\nB,1,0,5,1e-320\n")
    match = (r"t\.csv, line 2, field 'population': '1e-320' is too small: a positive population "
             r"must be at least 1e-100 \(write 0 for none\)")
    with pytest.raises(ScanInputError, match=match):
        read_csv(tiny, crs=None)
    assert "'1e-320' is too small" in cli_error(capsys, spatial(tiny, tmp_path / "out"))
    with pytest.raises(ScanInputError, match=r"line 2, field 'expected': '1e-320' is too small"):
        read_csv(write(tmp_path, "e.csv", HEADER + ",expected\nA,0,0,5,1,1e-320\n"), crs=None)
    with pytest.raises(ScanInputError, match=r"the total population \(1e-320\) is too small for "
                                             r"10 cases: the expected counts overflow a float"):
        study_area(["a", "b"], [0, 1], [0, 1], [5, 5], [5e-321, 5e-321], crs=None)
    # space-time: person-days (population x days) must fit in a float
    big = write(tmp_path, "s.csv", "id,x,y,time,cases,population\nA,0,0,2020-01-01,1,1e306\n"
                "B,1,0,2020-01-02,1,1e306\n")
    with pytest.raises(ScanInputError, match=r"s\.csv, field 'population': the population values "
                                             r"are too large: their total \(2e\+306\) times the 2 "
                                             r"days of the study period \(person-days\) overflows "
                                             r"a float; check the values \(largest: 1e\+306 on "
                                             r"line 2\)"):
        read_spacetime_csv(big, crs=None)
    cas, pop, geo, _ = satscan_files(tmp_path, cas="A 1 2020/1/1\nB 1 2020/1/2\n",
                                     pop="A 2020 1e308\nB 2020 1e308\nC 2020 1\n")
    with pytest.raises(ScanInputError, match=r"a\.pop, field 'population': the population values "
                                             r"add up to more than a float can hold"):
        read_satscan(cas, geo=geo, pop=pop)
    with pytest.raises(ScanInputError, match=r"a\.pop, field 'population': the population values "
                                             r"are too large: they add up to more than a float"):
        read_satscan_spacetime(cas, geo=geo, pop=pop)


def test_time_averaged_population_with_many_census_days():
    """20,000 daily census values: the weights are O(days), not a 20,000 x 20,000 matrix."""
    from scan.timeline import time_averaged_population

    days = np.datetime64("2000-01-01") + np.arange(20_000)
    values = np.vstack([np.full(20_000, 7.0), np.arange(20_000, dtype=np.float64)])
    got = time_averaged_population(days, values, days[0], days[-1])
    # constant 7; a straight line from 0 to 19,999 held flat on its last day: the mean of the
    # trapezoids over 19,999 days plus one day at 19,999
    want = ((19_999 ** 2 / 2) + 19_999) / 20_000
    np.testing.assert_allclose(got, [7.0, want], rtol=1e-12)


def test_three_and_four_digit_years_are_taken_as_written(tmp_path):
    records = read_counts(write(tmp_path, "a.cas", "A 1 2020\nB 1 0073\n"))
    assert records.times.tolist()[1].year == 73
    with pytest.raises(ScanInputError, match=r"'0000' is not a date \(year 0 does not exist\)"):
        read_counts(write(tmp_path, "b.cas", "A 1 0000\n"))

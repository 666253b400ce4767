"""The inquiry report (scan.report.html): content, order, escaping, disclosure control, and a real
browser (headless Chromium over the DevTools pipe, tests/browser.py): no console errors, no
requests, a screenshot that is not blank, and a PDF with the sections in order."""
from __future__ import annotations

import html as htmllib
import io
import re

import numpy as np
import pytest

from browser import Chromium, find_chromium
from inquiry_fixture import borough_geometry, make_inquiry
from scan.errors import ScanParameterError, ScanRunError
from scan.report.html import (Disclosure, render_inquiry_report, write_inquiry_report,
                              write_pdf)

SECTIONS = ["The answer", "What this means", "What happens next", "Cases against expected",
            "Year by year", "Tests around the area", "The whole borough", "Air pollution",
            "Maps", "How this was done", "What to bear in mind"]
SECTION_IDS = ["answer", "meaning", "next", "table", "years", "focused", "borough", "exposure",
               "maps", "methods", "caveats"]


def visible_text(page: str) -> str:
    """The page's text as a reader sees it: tags, styles and image data removed."""
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', 'src=""', page)
    page = re.sub(r"<br>", " ", page)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def grid():
    from scan.exposure.synthetic import synthetic_laei

    return synthetic_laei()["NO2"]


@pytest.fixture(scope="module")
def report_html(grid):
    return render_inquiry_report(make_inquiry(), geometry=borough_geometry(), grid=grid)


# --- content ------------------------------------------------------------------------------------

def test_self_contained(report_html):
    assert report_html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|@import|<iframe|<object|<embed", report_html, re.I)
    assert not re.search(r"(?:https?:)?//[a-z]", re.sub(r'"data:[^"]*"', "", report_html), re.I)
    sources = re.findall(r'src="([^"]*)"', report_html)
    assert len(sources) == 2 and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert re.findall(r"url\(", report_html) == []
    assert "default-src 'none'" in report_html  # the page may not load anything else


def test_sections_in_order(report_html):
    text = visible_text(report_html)
    positions = [text.find(s) for s in SECTIONS]
    assert all(p >= 0 for p in positions), dict(zip(SECTIONS, positions))
    assert positions == sorted(positions)
    ids = [report_html.find(f'id="{i}"') for i in SECTION_IDS]
    assert all(p >= 0 for p in ids) and ids == sorted(ids)


def test_answer_first_with_the_numbers():
    inquiry = make_inquiry()
    text = visible_text(render_inquiry_report(inquiry, geometry=borough_geometry()))
    answer = text[text.find("The answer"):text.find("What this means")]
    assert inquiry["verdict"]["headline"] in answer
    assert "Statistically significant excess" in answer
    combined = inquiry["combined"]
    assert f"{combined['observed']}" in answer and f"{combined['sir']:.2f}" in answer
    table = text[text.find("Cases against expected"):text.find("Year by year")]
    for area in inquiry["areas"]:
        lo, hi = area["sir_ci95"]
        assert f"{area['observed']} {area['expected']:.1f} {area['sir']:.2f} ({lo:.2f} to " \
               f"{hi:.2f})" in table
    assert "All 2 areas together" in table
    assert "Is the area in a statistically significant cluster? Yes : cluster 1" in text
    assert "2nd highest of 110 areas" in text
    assert "31.20 µg/m³ 28.40 µg/m³ 78th 40 10 below the UK limit, above the WHO guideline" \
        in text
    assert "seed 20240521" in text and "0.2.0+gabc1234" in text and "14 March 2025" in text


def test_every_term_is_explained(report_html):
    text = visible_text(report_html)
    words = text[text.find("Words used in this report"):]
    for term in ("SIR (standardised incidence ratio)", "95% confidence interval", "p-value",
                 "mid-p", "LLR (log-likelihood ratio)", "Stone's test", "Focused scan",
                 "Besag-Newell", "Borough-wide scan", "Relative risk", "Monte Carlo",
                 "Percentile", "µg/m³"):
        assert term in words, term
    # and where first used
    assert "SIR = observed ÷ expected" in text
    assert "LLR (log-likelihood ratio): how unusual" in text


def test_caveats_stated(report_html):
    text = visible_text(report_html)
    caveats = text[text.find("What to bear in mind"):]
    assert "Post-hoc" in caveats and "Small numbers" in caveats
    assert "ecological" in caveats.lower() or "not what any one person breathed" in caveats


def test_missing_caveats_are_added():
    inquiry = make_inquiry()
    inquiry["caveats"] = []
    text = visible_text(render_inquiry_report(inquiry))
    caveats = text[text.find("What to bear in mind"):]
    assert "Post-hoc selection: the area came to attention because its count looked high" \
        in caveats
    assert "Small numbers" in caveats and "Ecological exposure" in caveats


def test_strings_from_data_are_escaped():
    evil = '<script>alert("x")</script> & <b>Co</b>'
    inquiry = make_inquiry()
    inquiry["areas"][0]["name"] = evil
    inquiry["focus"]["label"] = evil
    inquiry["question"] = f"Is there an excess in {evil}?"
    inquiry["verdict"]["paragraphs"].append(evil)
    inquiry["sources"].append(evil)
    inquiry["caveats"].append(evil)
    inquiry["condition"] = evil
    inquiry["study_area"]["source"] = evil
    page = render_inquiry_report(inquiry, geometry=borough_geometry())
    assert "<script" not in page and "<b>Co" not in page
    assert htmllib.escape(evil) in page
    assert page.count(htmllib.escape(evil)) >= 7


def test_not_significant_reads_as_no():
    inquiry = make_inquiry(named=("SYN100",))
    assert not inquiry["verdict"]["significant_excess"]
    page = render_inquiry_report(inquiry)
    assert 'class="answer no"' in page
    text = visible_text(page)
    assert "No statistically significant excess" in text and "routine surveillance" in text
    assert "All 1 areas" not in text


def test_no_map_without_a_crs_or_locations():
    inquiry = make_inquiry()
    text = visible_text(render_inquiry_report(inquiry, geometry=borough_geometry(crs=None)))
    assert ("No map: the locations were given as plain x, y numbers without a coordinate "
            "reference system") in text
    page = render_inquiry_report(inquiry)
    assert "No map: the report was given no locations or boundaries." in visible_text(page)
    assert "<img" not in page


def test_point_focus_and_points_only_map():
    inquiry = make_inquiry(named=("SYN038",))
    inquiry["focus"] = {"kind": "point", "ids": [], "names": [],
                        "label": "500 m around 548000, 186000", "x": 548_000.0, "y": 186_000.0,
                        "radius": 500.0}
    page = render_inquiry_report(inquiry, geometry=borough_geometry(polygons=False))
    assert page.count('<img src="data:image/svg+xml;base64,') == 1  # no grid, no values
    assert "500 m around 548000, 186000" in visible_text(page)


def test_pollutant_map_from_values_when_no_grid():
    inquiry = make_inquiry()
    for k, loc in enumerate(inquiry["locations"]):
        loc["NO2"] = 25.0 + (k % 7)
    page = render_inquiry_report(inquiry, geometry=borough_geometry())
    assert page.count('<img src="data:image/svg+xml;base64,') == 2


def test_write_is_atomic_and_returns_the_path(tmp_path):
    path = write_inquiry_report(tmp_path / "report.html", make_inquiry())
    assert path == tmp_path / "report.html" and path.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_parameters_are_checked(tmp_path):
    with pytest.raises(ScanParameterError, match=r"parameter 'suppress_below' \(--suppress-below"
                                                 r"\) must be None or a whole number of at least "
                                                 r"2; got 1"):
        write_inquiry_report(tmp_path / "r.html", make_inquiry(), suppress_below=1)
    with pytest.raises(ScanParameterError, match=r"parameter 'inquiry' must be the dict written "
                                                 r"to inquiry.json, with keys 'question', "
                                                 r"'verdict' and 'areas'; got \"a dict without "
                                                 r"'verdict'\""):
        inquiry = make_inquiry()
        del inquiry["verdict"]
        render_inquiry_report(inquiry)
    assert not (tmp_path / "r.html").exists()


# --- disclosure control ---------------------------------------------------------------------------

def _contexts(text: str, number: int) -> list[str]:
    """Every place ``number`` appears as a count: alone in a cell or before/after a count word."""
    n = str(number)
    pats = [rf"(?<![\d.,<]){n}(?![\d.,])\s+(?:\w+\s+){{0,2}}(?:cases?|childhood|diagnoses|"
            rf"registrations?|observed)", rf"(?:There were|observed|Cases)\s+{n}(?![\d.,])"]
    return [m.group(0) for p in pats for m in re.finditer(p, text, re.I)]


def test_small_counts_never_appear():
    inquiry = make_inquiry(rare=True)
    area, second = inquiry["areas"]
    assert (area["observed"], second["observed"], inquiry["combined"]["observed"]) == (3, 7, 10)
    page = render_inquiry_report(inquiry, geometry=borough_geometry(), suppress_below=5)
    text = visible_text(page)
    # the table cells: 3 is "<5", its figures withheld; 7 withheld to protect it (10 - 7 = 3)
    assert ">3<" not in page and ">7<" not in page
    assert "<5 0.59 withheld withheld withheld" in text
    assert "withheld 0.40 withheld withheld withheld" in text
    assert "All 2 areas together 10 0.99" in text
    for n in (3, 7):
        assert _contexts(text, n) == [], (n, _contexts(text, n))
    # the SIRs (and p) of the withheld rows, from which the counts follow
    assert f"{area['sir']:.2f}" not in text and f"{second['sir']:.2f}" not in text
    assert "There were 10 childhood leukaemia diagnoses" in text
    assert "Counts from 1 to 4 are shown as <5" in text
    assert "counts from 1 to 4 are shown as <5" in text  # and in the methods


def test_small_count_in_the_verdict_is_scrubbed():
    inquiry = make_inquiry(rare=True, named=("SYN038",))
    assert inquiry["areas"][0]["observed"] == 3
    page = render_inquiry_report(inquiry, suppress_below=5)
    text = visible_text(page)
    assert "There were 3 " in inquiry["verdict"]["paragraphs"][0]   # the analyst's text has it
    assert "There were fewer than 5 childhood leukaemia diagnoses" in text
    assert _contexts(text, 3) == []
    assert "Cases <5" in text and "Ratio (SIR) withheld" in text
    assert f"{inquiry['areas'][0]['sir']:.2f}" not in text
    assert "(p =" not in text


def test_suppression_from_the_inquiry_and_zero_stays_zero():
    inquiry = make_inquiry(rare=True, named=("SYN038",), suppressed_below=5)
    inquiry["areas"][0]["observed"] = 0
    inquiry["borough_scan"]["clusters"][1]["observed"] = 2.0
    text = visible_text(render_inquiry_report(inquiry))
    assert "SYN038 0 " in text
    cluster2 = text[text.find("3: Eastbrook"):][:120]
    assert "<5" in cluster2 and "withheld" in cluster2


def test_per_year_complementary_suppression():
    inquiry = make_inquiry(named=("SYN038",))
    years = inquiry["areas"][0]["per_year"]
    counts = [3, 0, 12, 20, 21, 19, 25, 30, 22, 24]
    for y, c in zip(years, counts):
        y["observed"], y["sir"] = c, c / y["expected"]
    inquiry["areas"][0]["observed"] = sum(counts)
    text = visible_text(render_inquiry_report(inquiry, suppress_below=5))
    table = text[text.find("by year"):text.find("Tests around the area")]
    assert "2011 <5" in table and "2012 0 " in table      # small hidden, zero shown
    assert "2013 withheld" in table                        # the next smallest, so 176 - sum != 3
    assert "2014 20 " in table
    assert Disclosure(5).protect([3, 0, 12, 20], total_shown=True) == {0, 2}
    assert Disclosure(5).protect([3, 4, 12], total_shown=True) == {0, 1}
    assert Disclosure(5).protect([3, 12], total_shown=False) == {0}
    assert Disclosure(None).protect([1, 2], total_shown=True) == set()


# --- PDF without a browser --------------------------------------------------------------------------

def test_write_pdf_without_chromium(tmp_path, monkeypatch):
    import scan.report.html as report_html

    page = write_inquiry_report(tmp_path / "report.html", make_inquiry())
    monkeypatch.setattr(report_html.shutil, "which", lambda name: None)
    with pytest.raises(ScanRunError, match=r"PDF not written: headless Chromium was not found "
                                           r"\(looked for chromium, chromium-browser"):
        write_pdf(page, tmp_path / "report.pdf")
    with pytest.raises(ScanRunError, match=r"PDF not written: Chromium could not start"):
        write_pdf(page, tmp_path / "report.pdf", chromium=str(tmp_path / "no-such-browser"))
    assert not (tmp_path / "report.pdf").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- in a real browser ------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="chromium not installed (CI installs it: .ci/run; "
                                           "locally: apt-get install chromium)")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, grid):
    folder = tmp_path_factory.mktemp("report")
    path = write_inquiry_report(folder / "report.html", make_inquiry(),
                                geometry=borough_geometry(), grid=grid)
    with Chromium(width=1100, height=900) as browser:
        page = browser.open(path)
        rect = page.evaluate("(() => { const r = document.querySelector('figure.map-sir img')"
                             ".getBoundingClientRect(); return [r.left + window.scrollX, "
                             "r.top + window.scrollY, r.width, r.height]; })()")
        yield {"path": path, "requests": page.requests, "errors": page.console_errors,
               "png": page.screenshot(), "pdf": page.print_pdf(), "map_rect": rect}


def _pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return [p.extract_text() or "" for p in reader.pages], reader


@needs_chromium
def test_browser_loads_without_errors_or_requests(loaded):
    assert loaded["errors"] == []
    page_url = loaded["path"].resolve().as_uri()
    assert loaded["requests"][0] == page_url
    others = [u for u in loaded["requests"][1:] if not u.startswith("data:")]
    assert others == []


@needs_chromium
def test_browser_checks_catch_requests_and_errors(tmp_path):
    """The two checks above would see a fetch or a console error: a page with both."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="elsewhere.png">'
                   '<script>console.error("boom")</script></body></html>')
    with Chromium() as browser:
        page = browser.open(bad)
        assert any(u.endswith("/elsewhere.png") for u in page.requests)
        assert any("boom" in err for err in page.console_errors)


@needs_chromium
def test_screenshot_is_not_blank(loaded):
    from matplotlib.image import imread

    image = imread(io.BytesIO(loaded["png"]))[..., :3]
    grey = image.mean(axis=2)
    assert image.shape[0] > 2000 and image.shape[1] == 1100
    assert grey.std() > 0.1
    x, y, w, h = (int(round(v)) for v in loaded["map_rect"])
    assert w > 300 and h > 300
    crop = image[y:y + h, x:x + w]
    assert crop.mean(axis=2).std() > 0.05
    colours = np.unique((crop * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    # the choropleth's classes are on screen
    from matplotlib.colors import to_rgb

    from scan.report.cartography import SIR_CLASSES

    for cls in SIR_CLASSES[1:4]:
        target = np.array(to_rgb(cls.colour))
        assert (np.abs(crop - target).max(axis=2) < 0.03).sum() > 20, cls.label


@needs_chromium
def test_pdf_has_the_sections_on_a4(loaded):
    pages, reader = _pdf_pages(loaded["pdf"])
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx(595.3, abs=1.5)
    assert float(box.height) == pytest.approx(841.9, abs=1.5)
    text = re.sub(r"\s+", " ", " ".join(pages))
    # first occurrence as written, or upper-cased by the CSS ("THE ANSWER")
    positions = [min((p for p in (text.find(s), text.find(s.upper())) if p >= 0), default=-1)
                 for s in SECTIONS]
    assert all(p >= 0 for p in positions), dict(zip(SECTIONS, positions))
    assert positions == sorted(positions)
    # "How this was done" opens a new page
    methods_page = next(k for k, p in enumerate(pages) if "How this was done" in p)
    assert pages[methods_page].lstrip().startswith("How this was done")
    assert methods_page > 0 and "Maps" not in pages[methods_page]


@needs_chromium
def test_write_pdf(loaded, tmp_path):
    pdf = write_pdf(loaded["path"], tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-"
    pages, _ = _pdf_pages(data)
    text = " ".join(pages).lower()
    assert "the answer" in text and "what to bear in mind" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]

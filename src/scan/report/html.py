"""The report of a cluster inquiry: one self-contained HTML file a Director of Public Health can
send to councillors (and print to A4, or to PDF with headless Chromium).

    write_inquiry_report(path, inquiry, *, geometry=None, grid=None, suppress_below=None) -> Path
    render_inquiry_report(inquiry, *, geometry=None, grid=None, suppress_below=None) -> str
    write_pdf(html_path, pdf_path, *, chromium=None, timeout=120.0) -> Path

``inquiry`` is the dict ``scan inquiry`` writes to inquiry.json (notes/inquiry-spec.md).  One
optional key beyond the contract feeds the SIR map: ``locations``, a list with one dict per study
location ``{"id", "observed", "expected", "sir"}`` (and, optionally, ``"NO2"``, ``"PM10"``,
``"PM25"`` values for a per-area pollutant map when no grid is given).  Without it the map shows
the outlines, the named areas and the clusters, and says the SIRs by area were not supplied.

Order: the answer in plain English (the verdict's headline and paragraphs, what it means, what
happens next), the table of areas, the counts by year, the tests around the area, the
borough-wide scan, air pollution, the maps, how it was done (a new page in print) and what to bear
in mind.  Every term is explained in a line where it is first used, and again under "Words used
in this report".

Self-contained: no scripts, no external fonts, style sheets or images; the maps are SVG in
``data:`` URIs (text drawn as paths, so no fonts are needed to show them).  Every string that comes
from the data (area names, file names, the verdict's text) is escaped with :func:`html.escape`.

Small-number disclosure control (``suppress_below=k``)
------------------------------------------------------
Counts from 1 to k-1 are shown as "<k" (0 stays 0), in tables, map labels and text.  So that such a
count cannot be worked back, the same row's SIR, interval and p-values (and a cluster's relative
risk and LLR) are withheld too, and when a total is shown beside its parts and exactly one part is
withheld, the smallest other non-zero part is withheld as well (complementary suppression).  On the
SIR map a named area whose count is withheld is hatched, not coloured (its expected count is in the
table, so its SIR class would give the count away).  Text from the inquiry is scrubbed: a withheld
number before a word for cases becomes "fewer than k", and SIR / p figures of a withheld row are
removed.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ScanInputError, ScanParameterError, ScanRunError

log = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                  "--disable-dev-shm-usage",
                  "--host-resolver-rules=MAP * ~NOTFOUND")
"""Headless, offline: no sandbox (CI runs as root), no background fetches, no name resolution."""

DISPLAY = {"NO2": "NO₂", "PM10": "PM₁₀", "PM25": "PM₂.₅"}
POLLUTANT_WORDS = {"NO2": "nitrogen dioxide", "PM10": "coarse particles",
                   "PM25": "fine particles"}
_COUNT_NOUNS = ("cases", "case", "registrations", "registration", "diagnoses", "diagnosis",
                "deaths", "death", "admissions", "admission", "people", "persons", "person",
                "events", "event", "births", "birth")


def e(value) -> str:
    """Escape a value from the data for HTML text or attributes."""
    return html.escape("" if value is None else str(value), quote=True)


# --- numbers -------------------------------------------------------------------------------------

def _num(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_count(value) -> str:
    v = _num(value)
    if v is None:
        return e(value) if isinstance(value, str) else "–"
    return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"


def fmt_expected(value) -> str:
    v = _num(value)
    if v is None:
        return "–"
    return f"{v:,.2f}" if v < 10 else f"{v:,.1f}"


def fmt_ratio(value) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.2f}"


def fmt_p(value) -> str:
    v = _num(value)
    if v is None:
        return "–"
    if v < 0.001:
        return "&lt; 0.001"
    if v < 0.01:
        return f"{v:.3f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def fmt_ci(ci) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return "–"
    return f"{fmt_ratio(ci[0])} to {fmt_ratio(ci[1])}"


def ordinal(n: int) -> str:
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _date(inquiry: dict) -> str:
    raw = inquiry.get("created")
    try:
        day = _dt.date.fromisoformat(str(raw)[:10]) if raw else _dt.date.today()
    except ValueError:
        return e(raw)
    return f"{day.day} {day:%B %Y}"


# --- disclosure control ------------------------------------------------------------------------

class Disclosure:
    """Small-number disclosure control: counts 1..k-1 are shown as "<k"."""

    def __init__(self, k: int | None):
        self.k = k

    def hides(self, value) -> bool:
        v = _num(value)
        return self.k is not None and v is not None and 1 <= v < self.k

    def count(self, value, *, withheld: bool = False) -> str:
        if self.hides(value):
            return f"&lt;{self.k}"
        if withheld and _num(value):
            return "withheld"
        return fmt_count(value)

    def protect(self, parts: Sequence, total_shown: bool) -> set[int]:
        """Indices of ``parts`` to withhold: the small counts, and, when the total is shown and
        exactly one part is small, the smallest other non-zero part (so the difference gives
        nothing away)."""
        small = {k for k, v in enumerate(parts) if self.hides(v)}
        if total_shown and len(small) == 1:
            others = [(float(_num(v) or 0), k) for k, v in enumerate(parts)
                      if k not in small and (_num(v) or 0) > 0]
            if others:
                small.add(min(others)[1])
        return small

    def scrub(self, text: str, *, condition: str = "", drop_figures: bool = False) -> str:
        """Text from the inquiry with withheld numbers removed (already escaped for HTML)."""
        text = str(text)
        if self.k is None or self.k < 2:
            return e(text)
        numbers = "|".join(str(n) for n in range(self.k - 1, 0, -1))
        words = list(_COUNT_NOUNS)
        words += [re.escape(w) for w in re.findall(r"[A-Za-z]+", condition or "")]
        nouns = "|".join(sorted(set(words), key=len, reverse=True))
        few = f"fewer than {self.k}"
        before_noun = rf"(?=(?:\s+[\w-]+){{0,3}}?\s+(?:{nouns})\b)"
        text = re.sub(rf"(?<![\d.,])(?:{numbers})(?![\d.,]){before_noun}", few, text,
                      flags=re.IGNORECASE)
        text = re.sub(rf"\b(there (?:were|was|are|is)|observed|O\s*=)\s+(?:{numbers})(?![\d.,])",
                      rf"\1 {few}", text, flags=re.IGNORECASE)
        if drop_figures:
            text = re.sub(r"\s*\((?:SIR|p\s*[=<>]|95\s*% CI|relative risk)[^)]*\)", "", text)
            text = re.sub(r"\bSIR\s*(?:of\s*|=\s*)?\d+(?:\.\d+)?", "SIR (withheld)", text)
            text = re.sub(r"\bp\s*[=<>]\s*\d*\.?\d+(?:e-?\d+)?", "p (withheld)", text)
        return e(text)


# --- small HTML builders ------------------------------------------------------------------------

def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "",
           numeric_from: int = 1, numeric: Sequence[int] | None = None,
           row_classes: Sequence[str] | None = None, cls: str = "") -> str:
    """A table; cells are HTML already (escaped by the caller).  Columns from ``numeric_from``
    on (or those listed in ``numeric``) are right-aligned numbers."""
    num = set(numeric) if numeric is not None else set(range(numeric_from, len(headers)))
    head = "".join(f'<th scope="col"{" class=num" if k in num else ""}>{h}</th>'
                   for k, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        klass = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = []
        for k, c in enumerate(row):
            if k == 0:
                cells.append(f'<th scope="row">{c}</th>')
            else:
                cells.append(f'<td{" class=num" if k in num else ""}>{c}</td>')
        body.append(f"<tr{klass}>{''.join(cells)}</tr>")
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table class="{cls}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _defs(items: Sequence[tuple[str, str]]) -> str:
    return '<dl class="defs">' + "".join(f"<dt>{t}</dt><dd>{d}</dd>" for t, d in items) + "</dl>"


GLOSSARY = (
    ("Observed", "the number of cases recorded in the area."),
    ("Expected", "how many cases there would have been if people in the area had the reference "
                 "rates for their age and sex."),
    ("SIR (standardised incidence ratio)", "observed ÷ expected. 1.00 means as many as "
     "expected; 1.50 means 50% more than expected."),
    ("95% confidence interval (CI)", "the range of SIRs consistent with the data; if it is "
     "entirely above 1, the excess is unlikely to be chance alone."),
    ("p-value", "how often chance alone would give a count at least this high; below 0.05 "
     "(1 in 20) is called statistically significant."),
    ("mid-p", "a slightly less cautious version of the p-value for small counts, counting half "
     "the chance of exactly the observed number."),
    ("Borough-wide scan", "Kulldorff's scan statistic: a computer searches circles of every "
     "size around every area for the most unusual concentration of cases anywhere in the study "
     "area, and tests it against random re-distributions of the same cases."),
    ("LLR (log-likelihood ratio)", "the scan's measure of how unusual a circle's count is; "
     "larger means more unusual. It is compared with the largest LLRs from simulated data."),
    ("Relative risk", "the rate inside a cluster divided by the rate outside it."),
    ("Stone's test", "asks whether risk is highest nearest the area and falls with distance, "
     "taking the study area's total as given."),
    ("Focused scan", "the scan statistic restricted to circles centred on the area asked about."),
    ("Besag-Newell test", "how many nearest areas are needed to collect a given number of "
     "cases, and how unusual that is."),
    ("Monte Carlo replications", "the number of times the cases were redistributed at random "
     "to see what chance alone produces; the seed makes the result exactly repeatable."),
    ("Percentile", "where the area's air stands among the study area's residents: the 80th "
     "percentile means cleaner air for 80% of residents."),
    ("µg/m³", "micrograms of pollutant per cubic metre of air (annual average)."),
)


# --- the sections --------------------------------------------------------------------------------

class _Report:
    def __init__(self, inquiry: dict, geometry, grid, suppress_below):
        self.q = inquiry
        self.geometry = geometry
        self.grid = grid
        self.disc = Disclosure(suppress_below)
        self.condition = str(inquiry.get("condition") or "cases")
        self.areas = list(inquiry.get("areas") or [])
        self.combined = inquiry.get("combined")
        # which area rows (and the combined row) are withheld
        counts = [a.get("observed") for a in self.areas]
        combined_shown = bool(self.combined) and not self.disc.hides(
            (self.combined or {}).get("observed"))
        self.withheld_rows = self.disc.protect(counts, combined_shown and len(self.areas) > 1)
        self.combined_withheld = bool(self.combined) and not combined_shown
        focus = self.combined or (self.areas[0] if self.areas else {})
        self.focus_row = focus
        self.focus_withheld = (self.combined_withheld if self.combined
                               else bool(self.withheld_rows))

    # text from the inquiry, scrubbed
    def text(self, value, *, drop_figures: bool | None = None) -> str:
        if drop_figures is None:
            drop_figures = self.focus_withheld or bool(self.withheld_rows)
        return self.disc.scrub(value, condition=self.condition, drop_figures=drop_figures)

    def withheld_ids(self) -> set[str]:
        ids = {str(self.areas[k].get("id")) for k in self.withheld_rows}
        if self.combined_withheld:
            ids |= {str(i) for i in (self.combined or {}).get("ids", [])}
        return ids

    # --- header and answer
    def header(self) -> str:
        q = self.q
        focus = q.get("focus") or {}
        label = focus.get("label") or ", ".join(map(str, focus.get("names") or focus.get("ids")
                                                   or []))
        period = q.get("period") or {}
        when = (f"{e(period.get('start'))} to {e(period.get('end'))}" if period.get("start")
                else "")
        bits = [f"Prepared {_date(q)}"]
        if when:
            bits.append(f"cases {when}")
        bits.append(f"{e(q.get('created_by') or 'scan inquiry')} {e(q.get('scan_version') or '')}")
        return (f'<header class="masthead"><p class="kicker">Disease cluster inquiry · '
                f'Stage 2a assessment</p><h1>{e(q.get("question") or "Cluster inquiry")}</h1>'
                f'<p class="meta"><span class="area">{e(label)}</span> · '
                f'{" · ".join(bits)}</p></header>')

    def answer(self) -> str:
        q = self.q
        verdict = q.get("verdict") or {}
        sig = bool(verdict.get("significant_excess"))
        paragraphs = "".join(f"<p>{self.text(p)}</p>" for p in verdict.get("paragraphs") or [])
        row = self.focus_row or {}
        hidden = self.focus_withheld
        period = q.get("period") or {}
        when = (f"{e(period.get('start'))} to {e(period.get('end'))}" if period.get("start")
                else "recorded")
        ref = ("at the reference rates" if q.get("reference") == "external"
               else "at the study area's rates")
        cards = [("Cases", self.disc.count(row.get("observed"), withheld=hidden), when),
                 ("Expected", fmt_expected(row.get("expected")), f"for these residents {ref}"),
                 ("Ratio (SIR)", "withheld" if hidden else fmt_ratio(row.get("sir")),
                  "observed ÷ expected" + ("" if hidden else
                                           f"; 95% CI {fmt_ci(row.get('sir_ci95'))}")),
                 ("Chance (p-value)", "withheld" if hidden else fmt_p(row.get("p_value")),
                  "how often chance alone gives this many; below 0.05 is significant")]
        figures = "".join(f'<div class="card"><div class="label">{t}</div>'
                          f'<div class="value">{v}</div><div class="explain">{x}</div></div>'
                          for t, v, x in cards)
        kind = "yes" if sig else "no"
        badge = ("Statistically significant excess" if sig
                 else "No statistically significant excess")
        return (f'<section id="answer" class="answer {kind}" aria-labelledby="answer-h">'
                f'<h2 id="answer-h">The answer</h2><p class="badge">{badge}</p>'
                f'<p class="headline">{self.text(verdict.get("headline") or "")}</p>'
                f'<div class="cards">{figures}</div>{paragraphs}</section>')

    def meaning(self) -> str:
        q = self.q
        sig = bool((q.get("verdict") or {}).get("significant_excess"))
        bs = q.get("borough_scan") or None
        in_cluster = bool(bs and bs.get("area_in_significant_cluster"))
        n = (bs or {}).get("n_areas") or (q.get("study_area") or {}).get("n_areas")
        cond = e(self.condition)
        if bs is None:
            means = ("The area's count is higher than expected, more than chance would usually "
                     "produce." if sig else "The area's count is within the range that chance "
                     "alone would produce. There is no statistical evidence of an excess.")
        elif sig and in_cluster:
            means = ("The number of " + cond + " in the area is higher than expected, and the "
                     "borough-wide check, which looks everywhere and not only where the concern "
                     "was raised, picks out this part of the borough as well. This is the "
                     "strongest signal this kind of analysis gives. It does not show what caused "
                     "the excess.")
        elif sig:
            fluke = f" With {n} areas, about {max(1, round(n / 20))} would look 'significant' at " \
                    "the 1-in-20 level by chance alone." if n else ""
            means = ("Taken on its own, the area's count is higher than expected, but the "
                     "borough-wide check does not find a cluster there. The area was examined "
                     "because it looked high, and some areas always do by chance." + fluke +
                     " The evidence is therefore weaker than the p-value alone suggests.")
        elif in_cluster:
            means = ("The area's own count is not clearly above what is expected, but it lies "
                     "inside a cluster found by the borough-wide check: any excess is spread "
                     "over the wider neighbourhood rather than concentrated in this area.")
        else:
            means = ("The count is within the range that chance alone produces, and the "
                     "borough-wide check finds no cluster here. There is no statistical evidence "
                     "of an excess of " + cond + " in this area.")
        if sig or in_cluster:
            steps = ["Check the cases: confirm each diagnosis, its date and the home address at "
                     "diagnosis, and remove duplicates, before anything else.",
                     "Look at the types of disease: cases of different types rarely share one "
                     "cause.",
                     "Review possible local exposures (the air pollution figures below, and "
                     "other sources known to environmental health colleagues).",
                     "Decide with the UK Health Security Agency whether a fuller "
                     "investigation is justified, and tell the person who raised the concern "
                     "what was found and what will happen next."]
        else:
            steps = ["Tell the person who raised the concern what was found, and share this "
                     "report.",
                     "No further statistical investigation is indicated now; keep the area "
                     "under routine surveillance.",
                     "Look again if new cases are reported or new information about a local "
                     "source of exposure comes to light."]
        items = "".join(f"<li>{s}</li>" for s in steps)
        return (f'<section id="meaning"><h2>What this means</h2><p>{means}</p>'
                f'<h2 id="next">What happens next</h2><ol class="steps">{items}</ol></section>')

    # --- numbers
    def area_table(self) -> str:
        d = self.disc
        rows, classes = [], []
        for k, a in enumerate(self.areas):
            hidden = k in self.withheld_rows
            name = e(a.get("name") or "")
            ident = e(a.get("id") or "")
            label = f"{name}<br><span class=id>{ident}</span>" if name and name != ident else ident
            rows.append(self._number_cells(label, a, hidden))
            classes.append("")
        if self.combined:
            c = self.combined
            n = len(c.get("ids") or self.areas)
            rows.append(self._number_cells(f"All {n} areas together", c, self.combined_withheld))
            classes.append("total")
        ref = self.q.get("reference")
        refnote = ("Expected counts use external reference rates (not rescaled to the study "
                   "area's total)." if ref == "external" else
                   "Expected counts use the study area's own rates (internal standardisation).")
        note = ""
        if self.withheld_rows or self.combined_withheld:
            note = (f"<p class=note>Counts from 1 to {d.k - 1} are shown as &lt;{d.k}; for "
                    "those rows (and any row from which they could be worked out) the other "
                    "figures are withheld.</p>")
        table = _table(["Area", "Cases observed", "Expected", "SIR (95% CI)", "p-value",
                        "mid-p"], rows, row_classes=classes,
                       caption=f"Observed and expected {e(self.condition)}")
        return (f'<section id="table"><h2>Cases against expected</h2>{table}{note}'
                f'<p class=note>{refnote} SIR = observed ÷ expected (1.00 = as expected). '
                "CI: the range of SIRs consistent with the data. p-value: the chance of at "
                "least this many cases if the area had the reference rates; mid-p: the same, "
                "counting half the chance of exactly this many.</p></section>")

    def _number_cells(self, label, a, hidden):
        d = self.disc
        sir = "withheld" if hidden else (f'<strong>{fmt_ratio(a.get("sir"))}</strong> '
                                         f'<span class=ci>({fmt_ci(a.get("sir_ci95"))})</span>')
        return [label, d.count(a.get("observed"), withheld=hidden),
                fmt_expected(a.get("expected")), sir,
                "withheld" if hidden else fmt_p(a.get("p_value")),
                "withheld" if hidden else fmt_p(a.get("mid_p"))]

    def per_year(self) -> str:
        parts = []
        for k, a in enumerate(self.areas):
            years = a.get("per_year")
            if not years:
                continue
            area_hidden = k in self.withheld_rows
            counts = [y.get("observed") for y in years]
            hidden = self.disc.protect(counts, total_shown=not area_hidden)
            rows = []
            for j, y in enumerate(years):
                h = j in hidden
                rows.append([e(y.get("year")), self.disc.count(y.get("observed"), withheld=h),
                             fmt_expected(y.get("expected")),
                             "withheld" if h else fmt_ratio(y.get("sir"))])
            name = e(a.get("name") or a.get("id"))
            parts.append(_table(["Year", "Observed", "Expected", "SIR"], rows,
                                caption=f"{name}: by year", cls="compact"))
        if not parts:
            return ""
        return ('<section id="years"><h2>Year by year</h2><p>A steady excess over several years '
                'is more telling than one bad year.</p><div class="years">' + "".join(parts)
                + "</div></section>")

    def focused(self) -> str:
        f = self.q.get("focused") or None
        if not f:
            return ""
        d = self.disc
        rows = []
        stone = f.get("stone")
        if stone:
            rows.append(["Stone's test",
                         "Is risk highest nearest the area, falling with distance?",
                         f"highest ratio {fmt_ratio(stone.get('statistic'))} over the "
                         f"{e(stone.get('k'))} nearest area(s)",
                         fmt_p(stone.get("p_value"))])
        scan = f.get("scan")
        if scan:
            members = scan.get("members") or []
            hidden = d.hides(scan.get("observed"))
            what = (f"circle of {len(members)} area(s): {d.count(scan.get('observed'))} observed "
                    f"against {fmt_expected(scan.get('expected'))} expected"
                    + ("" if hidden else f", relative risk {fmt_ratio(scan.get('relative_risk'))}"
                       f", LLR {fmt_ratio(scan.get('llr'))}")) if members else \
                "no circle around the area has more cases than expected"
            rows.append(["Focused scan",
                         "Is there an unusual circle of cases centred on the area?", what,
                         fmt_p(scan.get("p_value"))])
        bn = f.get("besag_newell")
        if bn:
            bn_hidden = d.hides(bn.get("observed"))
            rows.append(["Besag-Newell test",
                         "Are the nearest cases packed more tightly than chance allows?",
                         f"{d.count(bn.get('observed'))} cases within the {e(bn.get('m'))} "
                         f"nearest area(s), where {fmt_expected(bn.get('expected'))} were "
                         "expected" if bn_hidden or bn.get("observed") is not None else
                         f"{e(bn.get('k'))} cases reached within the {e(bn.get('m'))} nearest "
                         f"area(s), where {fmt_expected(bn.get('expected'))} were expected",
                         fmt_p(bn.get("p_value"))])
        if not rows:
            return ""
        reps = (scan or stone or {}).get("n_replications")
        basis = e(f.get("expected") or "internal standardisation")
        table = _table(["Test", "The question it asks", "Result", "p-value"], rows,
                       numeric=[3], caption="Tests centred on the area asked about")
        return (f'<section id="focused"><h2>Tests around the area</h2><p>These tests take the '
                f"study area's total number of cases as given and ask whether cases gather near "
                f"the area asked about (expected counts: {basis}"
                + (f"; p-values from {fmt_count(reps)} random replications" if reps else "")
                + f").</p>{table}</section>")

    def borough(self) -> str:
        bs = self.q.get("borough_scan") or None
        if not bs:
            return ""
        d = self.disc
        n = bs.get("n_areas")
        rank = bs.get("sir_rank")
        in_c = bool(bs.get("area_in_significant_cluster"))
        crank = bs.get("cluster_rank")
        sig_ranks = set(bs.get("significant") or [])
        clusters = bs.get("clusters") or []
        focus_ids = set(map(str, (self.q.get("focus") or {}).get("ids") or []))
        names = self._names()
        facts = [("Is the area in a statistically significant cluster?",
                  (f"<strong>Yes</strong>: cluster {e(crank)}" if in_c and crank is not None
                   else "<strong>Yes</strong>" if in_c else "<strong>No</strong>")),
                 ("How the area's SIR ranks", (f"{ordinal(rank)} highest of {e(n)} areas"
                                               if rank is not None and n else "–"))]
        rows, classes = [], []
        for c in clusters:
            members = [str(m) for m in c.get("members") or []]
            listed = [e(names.get(m, m)) for m in members[:4]]
            listed = [f"<strong>{t}</strong>" if m in focus_ids else t
                      for t, m in zip(listed, members[:4])]
            more = f" and {len(members) - 4} more" if len(members) > 4 else ""
            hidden = d.hides(c.get("observed"))
            sig = c.get("rank") in sig_ranks or (_num(c.get("p_value")) or 1) <= 0.05
            rows.append([f"{e(c.get('rank'))}", f"{len(members)}: {', '.join(listed)}{more}",
                         d.count(c.get("observed")), fmt_expected(c.get("expected")),
                         "withheld" if hidden else fmt_ratio(c.get("relative_risk")),
                         "withheld" if hidden else fmt_ratio(c.get("llr")),
                         fmt_p(c.get("p_value")), "yes" if sig else "no"])
            classes.append("sig" if sig else "")
        table = (_table(["Cluster", "Areas", "Observed", "Expected", "Relative risk", "LLR",
                         "p-value", "Significant?"], rows, numeric_from=2, row_classes=classes,
                        caption="Clusters found by the borough-wide scan, most unusual first")
                 if rows else "<p>The scan found no circle with more cases than expected.</p>")
        reps = bs.get("n_replications")
        return ('<section id="borough"><h2>The whole borough</h2><p>This check does not depend '
                "on where the concern came from: it searches every part of the study area for "
                "the most unusual concentration of cases, and asks how often random chance "
                "would produce one as strong"
                + (f" ({fmt_count(reps)} random replications)" if reps else "") + ". It is the "
                "fairer test for an area that was reported because it looked high.</p>"
                + _defs(facts) + table +
                "<p class=note>Relative risk: rate inside the cluster ÷ rate outside. LLR "
                "(log-likelihood ratio): how unusual the cluster's count is; larger is more "
                "unusual.</p></section>")

    def _names(self) -> dict[str, str]:
        names = {}
        for loc in self.q.get("locations") or []:
            if loc.get("name"):
                names[str(loc.get("id"))] = str(loc["name"])
        g = self.geometry
        if g is not None and getattr(g, "names", None):
            names.update({i: n for i, n in zip(g.ids, g.names) if n})
        for a in self.areas:
            if a.get("name"):
                names[str(a.get("id"))] = str(a["name"])
        return names

    def exposure(self) -> str:
        ex = self.q.get("exposure") or None
        if not ex:
            return ""
        rows = []
        for pol in ("NO2", "PM10", "PM25"):
            p = ex.get(pol)
            if not p:
                continue
            units = e(p.get("units") or "µg/m³")
            above_uk, above_who = p.get("above_uk_limit"), p.get("above_who_guideline")
            status = ("<strong>above the UK limit</strong>" if above_uk else "below the UK limit")
            status += (", above the WHO guideline" if above_who else
                       ", below the WHO guideline" if above_who is not None else "")
            pct = _num(p.get("percentile"))
            rows.append([f"{DISPLAY[pol]} <span class=id>({POLLUTANT_WORDS[pol]})</span>",
                         f"{fmt_ratio(p.get('value'))} {units}",
                         f"{fmt_ratio(p.get('study_mean'))} {units}",
                         ordinal(round(pct)) if pct is not None else "–",
                         fmt_count(p.get("uk_limit")), fmt_count(p.get("who_guideline")),
                         status])
        table = _table(["Pollutant", "In the area", "Study-area average", "Percentile",
                        "UK limit", "WHO 2021 guideline", "Compared with the limits"], rows,
                       caption="Annual average air pollution where people live", cls="exposure",
                       numeric_from=1)
        adj = ex.get("adjusted")
        adjusted = ""
        if adj:
            pol = DISPLAY.get(str(adj.get("pollutant")), e(adj.get("pollutant")))
            rr = fmt_ratio(adj.get("rate_ratio_per_10_ugm3"))
            survives = adj.get("borough_cluster_survives")
            sir_adj = ("withheld" if self.focus_withheld
                       else fmt_ratio(adj.get("area_sir_adjusted")))
            adjusted = (f"<p><strong>Allowing for {pol}:</strong> across the study area, rates "
                        f"change by a factor of {rr} for each 10 µg/m³ more {pol} (z = "
                        f"{fmt_ratio(adj.get('z'))}; z beyond ±2 would be a clear link). After "
                        f"allowing for it, the area's SIR is {sir_adj}"
                        + ("" if survives is None else
                           "; the borough cluster " + ("still stands." if survives else
                                                       "no longer stands out."))
                        + "</p>")
        missing = ex.get("missing") or {}
        miss = [f"{DISPLAY.get(k, e(k))}: {fmt_count(v)}" for k, v in missing.items()
                if _num(v)]
        miss_note = (f"<p class=note>Locations without a pollution value: {', '.join(miss)}.</p>"
                     if miss else "")
        sources = sorted({str(ex[p].get("source")) for p in ("NO2", "PM10", "PM25")
                          if ex.get(p) and ex[p].get("source")})
        src = (f"<p class=note>Source: {e('; '.join(sources))}. Percentile: the share of the "
               "study area's residents living with cleaner air than the area.</p>"
               if sources else "")
        return ('<section id="exposure"><h2>Air pollution</h2><p>Modelled annual average '
                "concentrations where residents live, against the UK legal limit and the "
                "stricter World Health Organization (WHO) 2021 guideline.</p>"
                + table + adjusted + miss_note + src + "</section>")

    # --- maps
    def maps(self) -> str:
        g = self.geometry
        why = None
        if g is None:
            why = "No map: the report was given no locations or boundaries."
        elif not g.mappable:
            why = ("No map: the locations were given as plain x, y numbers without a "
                   "coordinate reference system, so they cannot be placed on a map of real "
                   "places.")
        if why:
            return f'<section id="maps"><h2>Maps</h2><p class="nomap">{why}</p></section>'
        figures = []
        try:
            figures.append(self._sir_figure())
        except Exception as exc:  # a map is a convenience; never lose the report for it
            log.warning("SIR map not drawn: %s", exc)
            figures.append(f"<p class=nomap>The SIR map could not be drawn ({e(exc)}).</p>")
        try:
            pol = self._pollutant_figure()
            if pol:
                figures.append(pol)
        except Exception as exc:
            log.warning("pollution map not drawn: %s", exc)
            figures.append(f"<p class=nomap>The pollution map could not be drawn ({e(exc)}).</p>")
        return ('<section id="maps"><h2>Maps</h2><div class="maps">' + "".join(figures)
                + "</div></section>")

    def _focus_point(self):
        from .cartography import FocusPoint

        focus = self.q.get("focus") or {}
        if focus.get("kind") != "point":
            return None
        x, y = _num(focus.get("x")), _num(focus.get("y"))
        if x is None or y is None:
            return None
        return FocusPoint(x, y, _num(focus.get("radius")), "")

    def _focus_ids(self):
        return [str(i) for i in (self.q.get("focus") or {}).get("ids") or []]

    def _sir_figure(self) -> str:
        from .cartography import MapCluster, figure_bytes, sir_map

        locs = self.q.get("locations") or None
        sir = None
        if locs:
            sir = {}
            for loc in locs:
                s = _num(loc.get("sir"))
                if s is None and _num(loc.get("expected")) and _num(loc.get("observed")) is not None:
                    s = float(loc["observed"]) / float(loc["expected"])
                sir[str(loc.get("id"))] = s
        bs = self.q.get("borough_scan") or {}
        sig = set(bs.get("significant") or [])
        clusters = []
        for c in bs.get("clusters") or []:
            if c.get("rank") in sig or (_num(c.get("p_value")) or 1) <= 0.05:
                centre = ((c["center_x"], c["center_y"]) if _num(c.get("center_x")) is not None
                          and _num(c.get("center_y")) is not None else None)
                clusters.append(MapCluster(f"Cluster {c.get('rank')}",
                                           tuple(map(str, c.get("members") or [])), centre,
                                           _num(c.get("radius"))))
        fig = sir_map(self.geometry, sir=sir, focus_ids=self._focus_ids(), clusters=clusters,
                      withheld=self.withheld_ids(), focus_point=self._focus_point(),
                      suppress_below=self.disc.k)
        alt = ("Map of the standardised incidence ratio by area, with the area asked about "
               "outlined in black and significant clusters dashed in blue")
        note = "" if sir is not None else (" The SIR of each area was not supplied, so the "
                                           "areas are not shaded.")
        return _figure(figure_bytes(fig, "svg"), "image/svg+xml", alt,
                       f"<strong>Cases against expected by area.</strong> Darker red: more cases "
                       f"than expected. Black outline: the area asked about. Blue dashes: "
                       f"significant clusters of the borough-wide scan.{note}", "map-sir")

    def _pollutant_figure(self) -> str | None:
        from ..exposure.grids import canonical_pollutant
        from ..exposure.summary import AIR_QUALITY_LIMITS
        from .cartography import figure_bytes, pollutant_map

        ex = self.q.get("exposure") or {}
        grid = self.grid
        pol = None
        if grid is not None:
            if hasattr(grid, "data_vars"):  # a Dataset: draw the adjusted pollutant or the first
                want = (ex.get("adjusted") or {}).get("pollutant") or "NO2"
                name = next((v for v in grid.data_vars if _canon(v) == _canon(want)),
                            next(iter(grid.data_vars)))
                grid = grid[name]
            pol = _canon(grid.name) or _canon(grid.attrs.get("pollutant"))
        values = None
        if grid is None:
            locs = self.q.get("locations") or []
            want = _canon((ex.get("adjusted") or {}).get("pollutant")) or "NO2"
            for cand in (want, "NO2", "PM25", "PM10"):
                if any(_num(loc.get(cand)) is not None for loc in locs):
                    pol = cand
                    values = {str(loc.get("id")): _num(loc.get(cand)) for loc in locs}
                    break
            if values is None:
                return None
        pol = pol or _canon((ex.get("adjusted") or {}).get("pollutant")) or "NO2"
        pol = canonical_pollutant(pol)
        info = ex.get(pol) or {}
        limits = AIR_QUALITY_LIMITS.get(pol, {})
        uk = _num(info.get("uk_limit")) or limits.get("uk_limit")
        who = _num(info.get("who_guideline")) or limits.get("who_2021")
        source = (grid.attrs.get("source") if grid is not None else None) or info.get("source")
        fig = pollutant_map(self.geometry, pollutant=pol, grid=grid, values=values, uk_limit=uk,
                            who_guideline=who, units=info.get("units") or "µg/m³",
                            focus_ids=self._focus_ids(), focus_point=self._focus_point(),
                            source=source)
        alt = f"Map of annual average {POLLUTANT_WORDS[pol]} ({pol}) across the study area"
        return _figure(figure_bytes(fig, "svg"), "image/svg+xml", alt,
                       f"<strong>{DISPLAY[pol]} ({POLLUTANT_WORDS[pol]}), annual average.</strong> "
                       f"Darker: more polluted. The colour bar marks the UK legal limit "
                       f"({fmt_count(uk)} µg/m³) and the WHO 2021 guideline ({fmt_count(who)} "
                       "µg/m³).", "map-pollution")

    # --- methods, caveats, sources
    def methods(self) -> str:
        q = self.q
        sa = q.get("study_area") or {}
        period = q.get("period") or {}
        std = q.get("standardisation") or {}
        method = q.get("method") or {}
        d = self.disc
        data = [f"{fmt_count(sa.get('n_areas'))} areas, {d.count(sa.get('observed'))} "
                f"{e(self.condition)} in all, {fmt_count(sa.get('population'))} residents"]
        files = [f"{e(sa.get(key))} ({what})" for key, what in
                 (("source", "cases"), ("locations", "locations"), ("boundaries", "boundaries"))
                 if sa.get(key)]
        if files:
            data.append("Files: " + ", ".join(files))
        items = [("Study area", ". ".join(data) + ".")]
        if period:
            items.append(("Period", f"{e(period.get('start'))} to {e(period.get('end'))}"
                          + (f" ({e(period.get('years'))} years)" if period.get("years") else "")
                          + "."))
        strata = std.get("strata") or []
        if strata:
            items.append(("Standardisation", f"{e(std.get('method') or 'indirect')} "
                          f"standardisation by {e(_and(map(str, strata)))}: expected counts "
                          "allow for each area's mix of ages and sexes, so an area with more "
                          "older residents is expected to have more cases."))
        else:
            items.append(("Standardisation", "none: expected counts are proportional to the "
                          "number of residents."))
        ref = q.get("reference")
        desc = e(q.get("reference_description") or "")
        if ref == "internal":
            items.append(("Reference rates", (desc + ". " if desc else "") + "The study area's "
                          "own rates: expected counts add up to the observed total, so each area "
                          "is compared with the rest of the study area, not with England."))
        else:
            items.append(("Reference rates", (desc + ". " if desc else "") + "External rates: "
                          "expected counts are not rescaled to the study area's total."))
        tests = method.get("tests") or []
        test_items = "".join(f"<li>{self.text(t, drop_figures=False)}</li>" for t in tests)
        run = []
        if method.get("n_replications") is not None:
            run.append(f"{fmt_count(method.get('n_replications'))} Monte Carlo replications")
        if method.get("seed") is not None:
            run.append(f"seed {e(method.get('seed'))}")
        if method.get("alpha") is not None:
            run.append(f"significance level {e(method.get('alpha'))}")
        run.append(f"software: {e(q.get('created_by') or 'scan')} version "
                   f"{e(q.get('scan_version') or '?')}")
        items.append(("Run", "; ".join(run) + "."))
        if d.k:
            items.append(("Disclosure control", f"counts from 1 to {d.k - 1} are shown as "
                          f"&lt;{d.k}; figures from which they could be worked out are withheld."))
        sources = q.get("sources") or []
        src = ("<h3>Sources</h3><ul class=sources>" + "".join(f"<li>{e(s)}</li>" for s in sources)
               + "</ul>") if sources else ""
        glossary = _defs([(t, d_) for t, d_ in GLOSSARY])
        return ('<section id="methods" class="methods"><h2>How this was done</h2>'
                + _defs(items)
                + (f"<h3>The tests, one line each</h3><ul class=tests>{test_items}</ul>"
                   if test_items else "")
                + "<h3>Words used in this report</h3>" + glossary + src + "</section>")

    def caveats(self) -> str:
        caveats = [str(c) for c in self.q.get("caveats") or []]
        joined = " ".join(caveats).lower()
        if not any(w in joined for w in ("post-hoc", "post hoc", "looked high",
                                         "because it looked")):
            caveats.insert(0, "Post-hoc selection: the area came to attention because its count "
                           "looked high. A p-value for a place chosen after seeing its count "
                           "overstates the evidence; the borough-wide scan, which does not "
                           "depend on where the report came from, is the fairer test.")
        if not any(w in joined for w in ("small number", "few cases", "small count")):
            caveats.append("Small numbers: with few cases, one or two more or fewer change the "
                           "SIR a lot, and the confidence interval is wide.")
        if self.q.get("exposure") and "ecological" not in joined:
            caveats.append("Ecological exposure: pollution figures are modelled annual "
                           "averages where people live, not what any one person breathed; a link "
                           "between areas is not evidence of a cause in individuals.")
        items = "".join(f"<li>{self.text(c, drop_figures=False)}</li>" for c in caveats)
        return (f'<section id="caveats"><h2>What to bear in mind</h2><ul class=caveats>{items}'
                "</ul></section>")

    def render(self) -> str:
        q = self.q
        body = "".join([self.header(), '<main>', self.answer(), self.meaning(),
                        self.area_table(), self.per_year(), self.focused(), self.borough(),
                        self.exposure(), self.maps(), self.methods(), self.caveats(), '</main>',
                        f'<footer><p>Produced by {e(q.get("created_by") or "scan")} '
                        f'{e(q.get("scan_version") or "")} on {_date(q)}. This page is '
                        f"self-contained: it works offline and prints to A4.</p></footer>"])
        title = e(q.get("question") or "Cluster inquiry")
        return ("<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "img-src data:; style-src 'unsafe-inline'\">"
                f"<title>{title}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def _and(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _canon(name) -> str | None:
    from ..exposure.grids import canonical_pollutant

    if not name:
        return None
    try:
        return canonical_pollutant(str(name))
    except ScanParameterError:
        return None


def _figure(data: bytes, mime: str, alt: str, caption: str, cls: str) -> str:
    uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure class="{cls}"><img src="{uri}" alt="{e(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


CSS = """
:root { --ink:#1b1b1b; --muted:#5a5a5a; --rule:#d6d6d6; --band:#12355b; --yes:#9a3412;
        --yes-bg:#fff4ec; --no:#0f5f58; --no-bg:#eef8f6; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: #f4f5f7; font: 16px/1.5 "Liberation Sans",
       Arial, "Helvetica Neue", Helvetica, "DejaVu Sans", sans-serif; }
.masthead { background: var(--band); color: #fff; padding: 28px max(24px, calc(50% - 440px)) 22px; }
.masthead h1 { margin: 4px 0 8px; font-size: 1.75rem; line-height: 1.2; font-weight: 700; }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: .78rem;
          opacity: .85; }
.meta { margin: 0; font-size: .92rem; opacity: .92; }
.meta .area { font-weight: 700; }
main { max-width: 880px; margin: 0 auto; padding: 8px 24px 24px; background: #fff; }
footer { max-width: 880px; margin: 0 auto 32px; padding: 10px 24px; color: var(--muted);
         font-size: .8rem; background: #fff; border-top: 1px solid var(--rule); }
h2 { font-size: 1.3rem; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid
     var(--band); color: var(--band); }
h3 { font-size: 1.02rem; margin: 20px 0 6px; color: var(--band); }
p { margin: 8px 0; }
.answer { margin: 22px 0 8px; padding: 16px 22px 14px; border-left: 10px solid; border-radius: 4px; }
.answer h2 { margin: 0 0 4px; border: 0; padding: 0; font-size: .85rem; text-transform: uppercase;
             letter-spacing: .08em; }
.answer.yes { background: var(--yes-bg); border-color: var(--yes); }
.answer.yes h2, .answer.yes .badge { color: var(--yes); }
.answer.no { background: var(--no-bg); border-color: var(--no); }
.answer.no h2, .answer.no .badge { color: var(--no); }
.badge { font-weight: 700; margin: 0; }
.headline { font-size: 1.45rem; line-height: 1.3; font-weight: 700; margin: 6px 0 14px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 0 0 12px; }
.card { background: #fff; border: 1px solid var(--rule); border-radius: 4px; padding: 8px 10px; }
.card .label { font-size: .78rem; color: var(--muted); text-transform: uppercase;
               letter-spacing: .04em; }
.card .value { font-size: 1.35rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .explain { font-size: .76rem; line-height: 1.3; color: var(--muted); }
ol.steps li, ul.caveats li, ul.tests li { margin: 4px 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 10px 0 6px; font-size: .92rem;
        font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 700; padding: 4px 0 6px; color: var(--ink); }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--rule); vertical-align: top;
         text-align: left; }
thead th { background: #eef1f5; border-bottom: 2px solid #9aa5b1; font-size: .82rem;
           color: #333; }
tbody th { font-weight: 400; }
.num { text-align: right; white-space: nowrap; }
tr.total th, tr.total td { font-weight: 700; border-top: 2px solid #9aa5b1; background: #f7f8fa; }
tr.sig td, tr.sig th { background: #fff4ec; }
table.compact { width: auto; min-width: 260px; font-size: .85rem; }
table.compact th, table.compact td { padding: 3px 8px; }
table.exposure td:last-child { white-space: normal; text-align: left; }
.years { display: flex; flex-wrap: wrap; gap: 0 28px; }
.id { color: var(--muted); font-size: .82rem; }
.ci { color: var(--muted); }
.note { color: var(--muted); font-size: .85rem; }
.nomap { padding: 12px 16px; background: #f7f8fa; border: 1px dashed #9aa5b1; }
dl.defs { display: grid; grid-template-columns: minmax(150px, 30%) 1fr; gap: 4px 16px;
          margin: 8px 0; }
dl.defs dt { font-weight: 700; }
dl.defs dd { margin: 0; }
.maps { display: flex; flex-wrap: wrap; gap: 16px; }
figure { flex: 1 1 380px; margin: 0; border: 1px solid var(--rule); padding: 8px; background: #fff; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #333; margin-top: 6px; }
@page { size: A4; margin: 16mm 15mm 18mm; }
@media print {
  body { background: #fff; font-size: 10pt; }
  .masthead { padding: 12px 16px; }
  .masthead h1 { font-size: 17pt; }
  main, footer { max-width: none; padding: 0; margin: 0; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 18px; }
  h3 { break-after: avoid; page-break-after: avoid; }
  .answer, table, figure, .cards, dl.defs, tr, .years { break-inside: avoid;
      page-break-inside: avoid; }
  thead { display: table-header-group; }
  .methods { break-before: page; page-break-before: always; }
  .maps { gap: 8px; }
  figure { flex: 1 1 45%; border: 0; padding: 0; }
  #meaning, #table, #years, #focused, #borough, #exposure, #maps, #caveats, p {
      break-inside: avoid; page-break-inside: avoid; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
@media (max-width: 640px) { .cards { grid-template-columns: repeat(2, 1fr); } }
"""


# --- public functions -----------------------------------------------------------------------------

def _check(inquiry, suppress_below):
    if not isinstance(inquiry, dict):
        raise ScanParameterError("inquiry", "the dict written to inquiry.json",
                                 type(inquiry).__name__)
    missing = [k for k in ("question", "verdict", "areas") if k not in inquiry]
    if missing:
        raise ScanParameterError("inquiry", "the dict written to inquiry.json, with keys "
                                 "'question', 'verdict' and 'areas'",
                                 "a dict without " + ", ".join(repr(m) for m in missing))
    if suppress_below is not None and (isinstance(suppress_below, bool)
                                       or not isinstance(suppress_below, int)
                                       or suppress_below < 2):
        raise ScanParameterError("suppress_below", "None or a whole number of at least 2",
                                 suppress_below, "e.g. 5 shows counts 1-4 as <5",
                                 flag="--suppress-below")


def render_inquiry_report(inquiry: dict, *, geometry=None, grid=None,
                          suppress_below: int | None = None) -> str:
    """The report as an HTML string (see the module docstring)."""
    if suppress_below is None and isinstance(inquiry, dict):
        given = inquiry.get("suppressed_below")
        suppress_below = given if isinstance(given, int) and not isinstance(given, bool) else None
    _check(inquiry, suppress_below)
    return _Report(inquiry, geometry, grid, suppress_below).render()


def write_inquiry_report(path, inquiry: dict, *, geometry=None, grid=None,
                         suppress_below: int | None = None) -> Path:
    """Write the inquiry's report to ``path`` (one self-contained HTML file) and return the path.

    Parameters
    ----------
    path : the HTML file to write (replaced in one rename).
    inquiry : the dict ``scan inquiry`` writes to inquiry.json (notes/inquiry-spec.md), with
        the optional ``locations`` list for the SIR map (module docstring).
    geometry : :class:`scan.report.cartography.ReportGeometry` (British National Grid metres),
        or None: no map, and the report says why.
    grid : xarray DataArray (dims y, x, BNG metres; attrs units, source) of the pollutant drawn
        beside the SIR map, a grid Dataset, or None.
    suppress_below : k: counts 1..k-1 appear as "<k" and figures that would reveal them are
        withheld; None (default) uses ``inquiry["suppressed_below"]``, if any.
    """
    from ..io.atomic import atomic_file

    text = render_inquiry_report(inquiry, geometry=geometry, grid=grid,
                                 suppress_below=suppress_below)
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html_path, pdf_path, *, chromium: str | None = None,
              timeout: float = 120.0) -> Path:
    """Print ``html_path`` to an A4 PDF with headless Chromium's ``--print-to-pdf`` (offline:
    no network, no name resolution, a throw-away profile).  Raises ScanRunError when Chromium
    is absent or fails."""
    from ..io.atomic import atomic_file

    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise ScanInputError("no such HTML file", file=str(html_path))
    exe = chromium or find_chromium()
    if exe is None:
        raise ScanRunError("PDF not written: headless Chromium was not found (looked for "
                           + ", ".join(CHROMIUM_NAMES) + " on PATH). Install it (Debian: "
                           "apt-get install chromium), or open report.html in a browser and "
                           "print it to PDF.")
    pdf_path = Path(pdf_path)
    with tempfile.TemporaryDirectory(prefix="scan-chromium-") as profile, \
            atomic_file(pdf_path) as tmp:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={tmp}", html_path.as_uri()]
        env = dict(os.environ, HOME=profile)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=env)
        except subprocess.TimeoutExpired:
            raise ScanRunError(f"PDF not written: Chromium did not finish within {timeout:g} s "
                               f"({exe})") from None
        except OSError as exc:
            raise ScanRunError(f"PDF not written: Chromium could not start ({exe}: {exc})") \
                from None
        ok = tmp.is_file() and tmp.stat().st_size > 0 and tmp.read_bytes()[:5] == b"%PDF-"
        if proc.returncode != 0 or not ok:
            tail = " | ".join((proc.stderr or "").strip().splitlines()[-3:])
            raise ScanRunError(f"PDF not written: Chromium exited with code {proc.returncode}"
                               + (f": {tail}" if tail else ""))
    return pdf_path

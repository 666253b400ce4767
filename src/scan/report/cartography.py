"""Maps for people: LSOA outlines, an SIR choropleth, clusters as unions of their member polygons,
the named areas outlined heavily, a pollutant map with the UK limit and WHO guideline on its
colour bar, a scale bar, a north arrow, names where they fit and the data's attribution.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no screen) and
returned as SVG or PNG bytes, for the HTML report (:mod:`scan.report.html`) and for the PNG map of
``scan spatial`` (:mod:`scan.report.maps`).

Colour classes of the SIR map (:data:`SIR_CLASSES`)
---------------------------------------------------
Five classes, symmetric on the ratio scale around 1 (0.8 = 1 / 1.25), as public-health atlases use:

    below 0.8      fewer cases than expected            near white
    0.8 to 1.25    about as many as expected            pale peach
    1.25 to 1.5    somewhat more                        light orange
    1.5 to 2       clearly more                         red
    2 or more      at least twice as many               dark red

A *sequential* scheme: lightness falls strictly from class to class (CIE L* about 99, 89, 72, 50
and 28, pinned by a test), so the map reads the same printed in greyscale and for colour-blind
readers, and the eye goes to the high classes, which is the question a cluster inquiry asks.
Areas without a value are hatched grey; areas whose count is withheld by disclosure control are
hatched and say so in the legend.  Lower bounds belong to their class (1.25 is "1.25 to 1.5").

Names where they fit: a name is drawn inside its polygon only when the text's box lies inside the
polygon and clear of names already placed; the named areas and the clusters are always labelled
(beside the shape, with a leader line, when they are too small to hold their name).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ScanParameterError

# --- the classes and the palette -------------------------------------------------------------


@dataclass(frozen=True)
class SirClass:
    lower: float
    upper: float
    label: str
    colour: str


SIR_CLASSES: tuple[SirClass, ...] = (
    SirClass(0.0, 0.8, "below 0.8 (fewer than expected)", "#fcfbf9"),
    SirClass(0.8, 1.25, "0.8 to 1.25 (about as expected)", "#fcd9b6"),
    SirClass(1.25, 1.5, "1.25 to 1.5", "#f39a6b"),
    SirClass(1.5, 2.0, "1.5 to 2", "#d2462f"),
    SirClass(2.0, math.inf, "2 or more", "#821a12"),
)
NO_DATA_COLOUR = "#d9d9d9"
FOCUS_COLOUR = "#000000"
CLUSTER_COLOUR = "#0b3c8c"   # dark blue: stands out on the reds and in greyscale (dashed)
OUTLINE_COLOUR = "#555555"
POLLUTANT_COLOUR_MAP = "YlGnBu"  # light = cleaner air; lightness monotonic, greyscale-safe
MAP_WIDTH_IN = 3.8
DPI = 150
LABEL_FONT_PT = 6.5
FOCUS_FONT_PT = 9.0
DISPLAY_NAMES = {"NO2": "NO₂", "PM10": "PM₁₀", "PM25": "PM₂.₅"}
_NICE_LENGTHS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000,
                   50_000, 100_000, 200_000, 250_000, 500_000)


def sir_class_index(sir: float | None) -> int:
    """Index into :data:`SIR_CLASSES` of a ratio, or -1 when it is missing or not finite."""
    if sir is None or not isinstance(sir, (int, float, np.floating, np.integer)):
        return -1
    sir = float(sir)
    if not math.isfinite(sir) or sir < 0:
        return -1
    for k, c in enumerate(SIR_CLASSES):
        if c.lower <= sir < c.upper:
            return k
    return len(SIR_CLASSES) - 1


# --- the geometry handed to the report --------------------------------------------------------


@dataclass(frozen=True)
class ReportGeometry:
    """Where the study locations are, for the maps of the report.

    ids : every study location, in the study area's order.
    polygons : a shapely (Multi)Polygon per id in British National Grid metres (EPSG:27700), or
        None to draw points only.
    points : (n, 2) array of BNG metres (centroids or the given x, y).
    names : readable names (e.g. LSOA names) or None.
    outline : the study area's outline (shapely), optional.
    crs : the coordinates' CRS; None means plain numbers with no CRS: no map is drawn.
    attribution : lines printed under the maps, e.g. "Contains OS data © Crown copyright ...".
    """

    ids: tuple
    polygons: tuple | None
    points: np.ndarray
    names: tuple | None = None
    outline: object | None = None
    crs: str | None = "EPSG:27700"
    attribution: tuple = ()
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ids = tuple(str(i) for i in self.ids)
        object.__setattr__(self, "ids", ids)
        points = np.asarray(self.points, dtype=float)
        if points.shape != (len(ids), 2):
            raise ScanParameterError("points", f"an array of shape ({len(ids)}, 2), one (x, y) per "
                                     "id", f"shape {points.shape}")
        object.__setattr__(self, "points", points)
        if self.polygons is not None:
            if len(self.polygons) != len(ids):
                raise ScanParameterError("polygons", f"one polygon per id ({len(ids)})",
                                         f"{len(self.polygons)} polygons")
            object.__setattr__(self, "polygons", tuple(self.polygons))
        if self.names is not None:
            if len(self.names) != len(ids):
                raise ScanParameterError("names", f"one name per id ({len(ids)})",
                                         f"{len(self.names)} names")
            object.__setattr__(self, "names", tuple("" if n is None else str(n)
                                                    for n in self.names))
        if isinstance(self.attribution, str):
            object.__setattr__(self, "attribution", (self.attribution,))
        object.__setattr__(self, "_index", {i: k for k, i in enumerate(ids)})

    @property
    def mappable(self) -> bool:
        """True when the coordinates have a CRS, so a map means something."""
        return self.crs is not None

    def index(self, ids: Iterable) -> list[int]:
        """Positions of the given ids (unknown ids are skipped)."""
        return [self._index[str(i)] for i in ids if str(i) in self._index]

    def label(self, k: int) -> str:
        if self.names is not None and self.names[k]:
            return self.names[k]
        return self.ids[k]

    def shape(self, k: int):
        """The polygon of location k, or its point."""
        from shapely.geometry import Point

        if self.polygons is not None and self.polygons[k] is not None:
            return self.polygons[k]
        return Point(self.points[k])

    def union(self, indices: Sequence[int]):
        """The union of the members' polygons (or a buffered hull of their points)."""
        import shapely
        from shapely.geometry import MultiPoint

        if not len(indices):
            return None
        if self.polygons is not None:
            return shapely.union_all([self.polygons[k] for k in indices if self.polygons[k]
                                      is not None])
        pts = MultiPoint([tuple(self.points[k]) for k in indices])
        return pts.convex_hull.buffer(_point_spacing(self.points) * 0.6)

    def bounds(self) -> tuple[float, float, float, float]:
        import shapely

        geoms = list(self.polygons) if self.polygons is not None else []
        if self.outline is not None:
            geoms.append(self.outline)
        xs, ys = list(self.points[:, 0]), list(self.points[:, 1])
        for g in geoms:
            if g is not None and not g.is_empty:
                b = shapely.bounds(g)
                xs += [b[0], b[2]]
                ys += [b[1], b[3]]
        return min(xs), min(ys), max(xs), max(ys)


def _point_spacing(points: np.ndarray) -> float:
    """A typical distance between neighbouring points (for drawing sizes)."""
    if len(points) < 2:
        return 100.0
    span = np.ptp(points, axis=0)
    area = max(span[0] * span[1], 1.0)
    return float(math.sqrt(area / len(points)))


# --- drawing primitives (shared with scan.report.maps) -----------------------------------------


def new_map_figure(bounds, *, width_in: float = MAP_WIDTH_IN, below_in: float = 1.4,
                   above_in: float = 0.1, right_in: float = 0.0, pad: float = 0.04,
                   aspect: float = 1.0):
    """A figure with one map axes whose scale is the same in x and y (times ``aspect`` for
    longitude/latitude), sized to the data, with ``below_in`` inches free under it (legend,
    colour bar, attribution) and ``right_in`` to its right.  Returns (fig, ax).  The axes
    limits are final here, so text can be measured for label placement before drawing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    minx, miny, maxx, maxy = bounds
    dx, dy = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
    minx, maxx = minx - pad * dx, maxx + pad * dx
    miny, maxy = miny - pad * dy, maxy + pad * dy
    dx, dy = maxx - minx, maxy - miny
    map_w = width_in - right_in
    ratio = min(max(dy * aspect / dx, 0.45), 1.7)
    map_h = map_w * ratio
    # Expand the short side so one unit is as long in x as in y (times aspect).
    if dy * aspect / dx < ratio:
        extra = (ratio * dx / aspect - dy) / 2
        miny, maxy = miny - extra, maxy + extra
    else:
        extra = (dy * aspect / ratio - dx) / 2
        minx, maxx = minx - extra, maxx + extra
    height = map_h + below_in + above_in
    fig = Figure(figsize=(width_in, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, below_in / height, map_w / width_in, map_h / height))
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_axis_off()
    return fig, ax


def polygon_path(geom):
    """A matplotlib Path of a shapely (Multi)Polygon, holes included (exteriors anticlockwise,
    holes clockwise, so the non-zero rule leaves the holes empty)."""
    from matplotlib.path import Path
    from shapely.geometry.polygon import orient

    parts = getattr(geom, "geoms", [geom])
    verts, codes = [], []
    for part in parts:
        if part.is_empty or part.geom_type != "Polygon":
            continue
        part = orient(part, sign=1.0)
        for ring in [part.exterior, *part.interiors]:
            xy = np.asarray(ring.coords)
            if len(xy) < 3:
                continue
            verts.append(xy)
            c = np.full(len(xy), Path.LINETO, dtype=np.uint8)
            c[0], c[-1] = Path.MOVETO, Path.CLOSEPOLY
            codes.append(c)
    if not verts:
        return None
    return Path(np.concatenate(verts), np.concatenate(codes))


def draw_shapes(ax, geoms, *, facecolors="none", edgecolor=OUTLINE_COLOUR, linewidth=0.3,
                hatch=None, zorder=2, linestyle="solid", halo: float | None = None):
    """Draw shapely polygons; returns the collection (or None when nothing was drawn)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    patches, faces = [], []
    colours = ([facecolors] * len(geoms) if isinstance(facecolors, str) else list(facecolors))
    for g, fc in zip(geoms, colours):
        if g is None or g.is_empty:
            continue
        path = polygon_path(g)
        if path is None:
            continue
        patches.append(PathPatch(path))
        faces.append(fc)
    if not patches:
        return None
    if halo:
        ax.add_collection(PatchCollection(patches, facecolors="none", edgecolors="white",
                                          linewidths=linewidth + halo, zorder=zorder - 0.01))
    coll = PatchCollection(patches, facecolors=faces, edgecolors=edgecolor, linewidths=linewidth,
                           zorder=zorder, linestyles=linestyle)
    if hatch:
        coll.set_hatch(hatch)
    ax.add_collection(coll)
    return coll


def nice_length(span_m: float) -> float:
    """A round length (1, 2, 2.5, 5 x 10^k metres) near a fifth of ``span_m``."""
    target = span_m / 5.0
    best = min(_NICE_LENGTHS_M, key=lambda v: abs(math.log(v / target)))
    return float(best)


def length_label(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{km:g} km"
    return f"{metres:g} m"


def add_scale_bar(ax, *, metres_per_unit: float = 1.0, loc: str = "lower left"):
    """A scale bar in metres or kilometres (a round length near a fifth of the map's width)."""
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    metres = nice_length((x1 - x0) * metres_per_unit)
    bar = AnchoredSizeBar(ax.transData, metres / metres_per_unit, length_label(metres), loc,
                          pad=0.4, borderpad=0.5, sep=3, frameon=True, size_vertical=0,
                          fontproperties=FontProperties(size=8))
    bar.size_bar.get_children()[0].set_linewidth(2.0)
    bar.patch.set_alpha(0.85)
    bar.patch.set_edgecolor("none")
    bar.set_zorder(20)
    ax.add_artist(bar)
    return metres


def add_north_arrow(ax, *, xy=(0.93, 0.97), length=0.08):
    """An arrow pointing up the map, marked N (grid north: within 2 degrees of true north
    anywhere in London on the British National Grid)."""
    x, y = xy
    ax.annotate("", xy=(x, y), xytext=(x, y - length), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "lw": 1.6,
                            "color": "black"}, zorder=21)
    ax.text(x, y - length - 0.005, "N", transform=ax.transAxes, ha="center", va="top",
            fontsize=9, fontweight="bold", zorder=21, path_effects=_halo(2.5))


def add_attribution(fig, lines: Sequence[str], *, y_in: float = 0.06, fontsize: float = 6.5):
    """Data attribution in small grey type along the bottom of the figure."""
    import textwrap

    width = int(fig.get_figwidth() * 72 / (fontsize * 0.62))  # characters across the figure
    text = "\n".join(w for line in lines if line for w in textwrap.wrap(str(line), width))
    if text:
        fig.text(0.01, y_in / fig.get_figheight(), text, ha="left", va="bottom",
                 fontsize=fontsize, color="#555555", linespacing=1.25)


def _halo(width: float = 2.2):
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="white")]


@dataclass
class Label:
    text: str
    geom: object                 # shapely geometry the label belongs to
    force: bool = False          # draw even when it does not fit (beside, with a leader line)
    fontsize: float = LABEL_FONT_PT
    weight: str = "normal"
    colour: str = "#222222"


def place_labels(fig, ax, labels: Sequence[Label], *, obstacles: Sequence = ()) -> list[str]:
    """Draw labels in order where they fit; returns the texts drawn.

    A label fits when its box (in data units) lies inside its polygon and clear of labels placed
    before.  Forced labels that do not fit go beside the shape (right, left, above, below, then
    further out), clear of the other labels and of ``obstacles`` (shapes that must stay
    readable: the named areas, the clusters), with a leader line to the shape."""
    import shapely
    from shapely.geometry import box
    from shapely.ops import nearest_points, polylabel

    renderer = fig.canvas.get_renderer()
    inv = ax.transData.inverted()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    frame = box(x0, y0, x1, y1)
    placed: list = []
    drawn: list[str] = []
    blocked = shapely.union_all([o for o in obstacles if o is not None]) if obstacles else None

    def measure(text, fontsize, weight):
        t = ax.text(0, 0, text, fontsize=fontsize, fontweight=weight, ha="center", va="center")
        ext = t.get_window_extent(renderer)
        t.remove()
        (ax0, ay0), (ax1, ay1) = inv.transform([(ext.x0, ext.y0), (ext.x1, ext.y1)])
        return abs(ax1 - ax0) * 1.08, abs(ay1 - ay0) * 1.15

    def clear(cand, *, avoid_obstacles):
        if any(cand.intersects(p) for p in placed):
            return False
        return not (avoid_obstacles and blocked is not None and cand.intersects(blocked))

    for lab in labels:
        g = lab.geom
        if g is None or g.is_empty or not lab.text:
            continue
        w, h = measure(lab.text, lab.fontsize, lab.weight)
        if g.geom_type == "Point":
            anchor = g
        else:
            part = max(getattr(g, "geoms", [g]), key=lambda p: p.area)
            try:
                anchor = polylabel(part, tolerance=max(w, h) / 20)
            except Exception:  # degenerate polygon
                anchor = part.representative_point()
        ax_, ay_ = anchor.x, anchor.y
        candidate = box(ax_ - w / 2, ay_ - h / 2, ax_ + w / 2, ay_ + h / 2)
        fits = (g.geom_type != "Point" and g.contains(candidate)
                and clear(candidate, avoid_obstacles=False))
        position, leader = (ax_, ay_), False
        if not fits:
            if not lab.force:
                continue
            zone = g if blocked is None else shapely.union_all([g, blocked])
            gx0, gy0, gx1, gy1 = shapely.bounds(zone)
            gap = h * 0.8
            options = []
            for k in (1, 2, 3.5, 5):
                d = gap * k
                options += [(gx1 + d + w / 2, ay_), (gx0 - d - w / 2, ay_),
                            (ax_, gy1 + d + h / 2), (ax_, gy0 - d - h / 2),
                            (gx1 + d + w / 2, ay_ + 2 * h), (gx0 - d - w / 2, ay_ + 2 * h),
                            (gx1 + d + w / 2, ay_ - 2 * h), (gx0 - d - w / 2, ay_ - 2 * h)]
            chosen = None
            for (cx, cy) in options:
                cand = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                if frame.contains(cand) and clear(cand, avoid_obstacles=True):
                    chosen, candidate = (cx, cy), cand
                    break
            if chosen is None:  # nothing clear: inside the frame above the shape
                cx = min(max(ax_, x0 + w / 2), x1 - w / 2)
                cy = min(max(gy1 + gap + h / 2, y0 + h / 2), y1 - h / 2)
                chosen = (cx, cy)
                candidate = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            position, leader = chosen, True
        if leader:
            start, _ = nearest_points(candidate.exterior, anchor)
            ax.plot([start.x, ax_], [start.y, ay_], color=lab.colour, linewidth=0.8, zorder=14,
                    path_effects=_halo(2.0), solid_capstyle="round")
            ax.plot([ax_], [ay_], marker="o", markersize=2.2, color=lab.colour, zorder=14)
        ax.text(*position, lab.text, fontsize=lab.fontsize, fontweight=lab.weight,
                color=lab.colour, ha="center", va="center", zorder=15, path_effects=_halo(),
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
                if leader else None)
        placed.append(candidate)
        drawn.append(lab.text)
    return drawn


def figure_bytes(fig, fmt: str = "svg") -> bytes:
    """The figure as SVG (text as paths: no fonts needed to show it) or PNG bytes."""
    buf = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()


def grid_extent(grid) -> list[float]:
    """Outer cell edges [west, east, south, north] from ascending cell-centre coordinates."""
    x = grid["x"].to_numpy()
    y = grid["y"].to_numpy()
    dx = (x[1] - x[0]) if x.size > 1 else 1.0
    dy = (y[1] - y[0]) if y.size > 1 else 1.0
    return [x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2]


def draw_grid_image(ax, grid, *, cmap, vmin, vmax, clip=None, zorder=1):
    """The grid as an image, north up, optionally clipped to a shapely polygon."""
    from matplotlib.patches import PathPatch

    grid = grid.sortby("x").sortby("y").transpose("y", "x")
    image = ax.imshow(grid.to_numpy(), origin="lower", extent=grid_extent(grid), cmap=cmap,
                      vmin=vmin, vmax=vmax, interpolation="nearest", zorder=zorder)
    if clip is not None and not clip.is_empty:
        path = polygon_path(clip)
        if path is not None:
            patch = PathPatch(path, transform=ax.transData, facecolor="none", edgecolor="none")
            image.set_clip_path(patch)
    ax.set_xlim(*ax.get_xlim())  # imshow resets limits; keep the figure's
    return image


# --- the report's two maps ----------------------------------------------------------------------


@dataclass(frozen=True)
class MapCluster:
    """A borough-scan cluster to draw: its label, the member ids and its circle (points mode)."""

    label: str
    members: tuple
    center: tuple | None = None
    radius: float | None = None


@dataclass(frozen=True)
class FocusPoint:
    x: float
    y: float
    radius: float | None = None
    label: str = ""


def _legend_handles(entries):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for kind, label, style in entries:
        if kind == "patch":
            handles.append(Patch(label=label, **style))
        else:
            handles.append(Line2D([], [], label=label, **style))
    return handles


def _focus_labels(geometry: ReportGeometry, focus_idx, clusters_geoms, focus_point):
    labels = []
    for k in focus_idx:
        labels.append(Label(geometry.label(k), geometry.shape(k), force=True,
                            fontsize=FOCUS_FONT_PT, weight="bold", colour="black"))
    if focus_point is not None and focus_point.label:
        from shapely.geometry import Point

        labels.append(Label(focus_point.label, Point(focus_point.x, focus_point.y), force=True,
                            fontsize=FOCUS_FONT_PT, weight="bold", colour="black"))
    for text, g in clusters_geoms:
        labels.append(Label(text, g, force=True, fontsize=8.0, weight="bold",
                            colour=CLUSTER_COLOUR))
    return labels


def _other_labels(geometry: ReportGeometry, skip: set):
    if geometry.names is None or geometry.polygons is None:
        return []
    order = sorted((k for k in range(len(geometry.ids)) if k not in skip),
                   key=lambda k: -(geometry.polygons[k].area if geometry.polygons[k] is not None
                                   else 0))
    return [Label(geometry.names[k], geometry.polygons[k]) for k in order if geometry.names[k]]


def _obstacles(geometry, focus_idx, focus_point, cluster_shapes):
    """Shapes a label placed beside must not cover: the named areas, the point asked about
    (with its radius) and the clusters."""
    from shapely.geometry import Point

    spacing = _point_spacing(geometry.points)
    shapes = [geometry.shape(k).buffer(spacing * 0.15) for k in focus_idx]
    if focus_point is not None:
        shapes.append(Point(focus_point.x, focus_point.y).buffer(focus_point.radius
                                                                  or spacing * 0.3))
    return shapes + list(cluster_shapes)


def _draw_focus(ax, geometry, focus_idx, focus_point, *, spacing):
    from matplotlib.patches import Circle

    if geometry.polygons is not None:
        draw_shapes(ax, [geometry.polygons[k] for k in focus_idx], edgecolor=FOCUS_COLOUR,
                    linewidth=2.4, zorder=12, halo=2.2)
    else:
        pts = geometry.points[focus_idx]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=120, facecolors="none", edgecolors="black",
                       linewidths=2.0, zorder=12)
    if focus_point is not None:
        ax.scatter([focus_point.x], [focus_point.y], marker="X", s=70, c="black",
                   edgecolors="white", linewidths=0.8, zorder=13)
        if focus_point.radius:
            ax.add_patch(Circle((focus_point.x, focus_point.y), focus_point.radius, fill=False,
                                edgecolor="black", linewidth=1.6, linestyle=(0, (4, 2)),
                                zorder=12))


def _draw_clusters(ax, geometry, clusters: Sequence[MapCluster]):
    """Clusters as the union of their member polygons (or circles / hulls for points)."""
    from matplotlib.patches import Circle

    drawn = []
    for c in clusters:
        idx = geometry.index(c.members)
        if geometry.polygons is None and c.center is not None and c.radius:
            ax.add_patch(Circle(c.center, c.radius, fill=False, edgecolor=CLUSTER_COLOUR,
                                linewidth=2.0, linestyle=(0, (5, 2)), zorder=11))
            from shapely.geometry import Point

            drawn.append((c.label, Point(c.center).buffer(c.radius)))
            continue
        shape = geometry.union(idx)
        if shape is None or shape.is_empty:
            continue
        draw_shapes(ax, [shape], edgecolor=CLUSTER_COLOUR, linewidth=2.0, zorder=11,
                    linestyle=(0, (5, 2)), halo=1.6)
        drawn.append((c.label, shape))
    return drawn


def sir_map(geometry: ReportGeometry, *, sir: Mapping[str, float] | None = None,
            focus_ids: Sequence[str] = (), clusters: Sequence[MapCluster] = (),
            withheld: Iterable[str] = (), focus_point: FocusPoint | None = None,
            suppress_below: int | None = None, extra_attribution: Sequence[str] = ()):
    """The SIR choropleth (or coloured points), named areas, clusters and map furniture.
    Returns the matplotlib Figure."""
    geometry_bounds = geometry.bounds()
    fig, ax = new_map_figure(geometry_bounds, below_in=1.85)
    n = len(geometry.ids)
    withheld = set(map(str, withheld))
    classes = np.array([sir_class_index(sir.get(i)) if sir is not None else -1
                        for i in geometry.ids])
    colours = [SIR_CLASSES[c].colour if c >= 0 else NO_DATA_COLOUR for c in classes]
    hidden = np.array([i in withheld for i in geometry.ids])
    for k in np.flatnonzero(hidden):
        colours[k] = "#ffffff"
    spacing = _point_spacing(geometry.points)
    if geometry.outline is not None:
        draw_shapes(ax, [geometry.outline], facecolors="#fbfbfb", edgecolor="#333333",
                    linewidth=0.9, zorder=1)
    if geometry.polygons is not None:
        draw_shapes(ax, list(geometry.polygons), facecolors=colours, edgecolor="#6b6b6b",
                    linewidth=0.35, zorder=2)
        nodata = [geometry.polygons[k] for k in range(n) if classes[k] < 0 and not hidden[k]]
        if nodata and sir is not None:
            draw_shapes(ax, nodata, facecolors="none", edgecolor="#9a9a9a", linewidth=0,
                        hatch="////", zorder=3)
        if hidden.any():
            draw_shapes(ax, [geometry.polygons[k] for k in np.flatnonzero(hidden)],
                        facecolors="none", edgecolor="#7a7a7a", linewidth=0, hatch="xxxx",
                        zorder=3)
    else:
        ax.scatter(geometry.points[:, 0], geometry.points[:, 1], s=34, c=colours,
                   edgecolors="#444444", linewidths=0.5, zorder=3)
    focus_idx = geometry.index(focus_ids)
    _draw_focus(ax, geometry, focus_idx, focus_point, spacing=spacing)
    drawn_clusters = _draw_clusters(ax, geometry, clusters)
    labels = _focus_labels(geometry, focus_idx, drawn_clusters, focus_point)
    labels += _other_labels(geometry, set(focus_idx))
    place_labels(fig, ax, labels, obstacles=_obstacles(geometry, focus_idx, focus_point,
                                                      [g for _, g in drawn_clusters]))
    add_scale_bar(ax)
    add_north_arrow(ax)

    entries = []
    if sir is not None:
        entries += [("patch", c.label, {"facecolor": c.colour, "edgecolor": "#6b6b6b",
                                         "linewidth": 0.4}) for c in SIR_CLASSES]
        if (classes < 0).any() and (~hidden & (classes < 0)).any():
            entries.append(("patch", "no value", {"facecolor": NO_DATA_COLOUR, "hatch": "////",
                                                  "edgecolor": "#9a9a9a", "linewidth": 0.4}))
        if hidden.any():
            entries.append(("patch", f"not shown: fewer than {suppress_below} cases",
                            {"facecolor": "white", "hatch": "xxxx", "edgecolor": "#7a7a7a",
                             "linewidth": 0.4}))
    entries.append(("line", "the place asked about" if focus_point is not None and not focus_idx
                    else "the area(s) asked about", {"color": "black", "linewidth": 2.4}))
    if drawn_clusters:
        entries.append(("line", "significant cluster, borough-wide scan",
                        {"color": CLUSTER_COLOUR, "linewidth": 2.0, "linestyle": (0, (5, 2))}))
    title = "SIR: observed ÷ expected cases" if sir is not None else None
    fig.legend(handles=_legend_handles(entries), loc="upper left",
               bbox_to_anchor=(0.0, 1.76 / fig.get_figheight()), ncols=1, fontsize=7.6,
               title=title, title_fontsize=8, frameon=False, alignment="left",
               handlelength=1.8, handleheight=0.9, labelspacing=0.25, borderaxespad=0.2)
    add_attribution(fig, [*geometry.attribution, *extra_attribution])
    return fig


def _inside(grid, clip):
    """The grid's values at cell centres inside ``clip`` (all values without one)."""
    data = np.asarray(grid.to_numpy(), dtype=float)
    if clip is None or clip.is_empty:
        return data.ravel()
    import shapely

    xx, yy = np.meshgrid(grid["x"].to_numpy(), grid["y"].to_numpy())
    inside = shapely.contains_xy(clip, xx, yy)
    return data[inside] if inside.any() else data.ravel()


def colour_range(values, uk_limit=None, *, top_percentile: float = 95.0):
    """(vmin, vmax, data min, data max) of a pollutant colour bar.

    The scale runs from the lowest value to the ``top_percentile`` (so the background pattern
    shows beside kerbside peaks, which are drawn darkest), stretched up to the UK limit when the
    limit lies within half as much again, so the limit can be marked on the bar."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0, None, None
    dmin, dmax = float(finite.min()), float(finite.max())
    vmin, vmax = dmin, float(np.percentile(finite, top_percentile))
    if uk_limit is not None and math.isfinite(uk_limit) and vmax < uk_limit <= 1.5 * vmax:
        vmax = min(uk_limit * 1.08, max(dmax, uk_limit * 1.08))
    if vmax <= vmin:
        vmax = vmin + max(abs(vmin) * 0.01, 1e-6)
    return vmin, vmax, dmin, dmax


def _limit_marks(cax, vmin, vmax, dmin, dmax, marks):
    """Lines on a horizontal colour bar at the UK limit and WHO guideline; notes for values
    beyond the colour range.  Returns the notes."""
    notes = []
    for value, text, style in marks:
        if value is None or not math.isfinite(value):
            continue
        if vmin <= value <= vmax:
            cax.axvline(value, color="black", linewidth=1.8, linestyle=style)
            cax.annotate(f"{text} {value:g}", (value, 1.0), xycoords=("data", "axes fraction"),
                         xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                         fontsize=7.5, fontweight="bold")
        elif dmax is not None and value > dmax:
            notes.append(f"{text} ({value:g}): every place on this map is below it.")
        elif dmin is not None and value < dmin:
            notes.append(f"{text} ({value:g}): every place on this map is above it.")
        else:
            notes.append(f"{text} ({value:g}) lies beyond the end of the colour bar; the "
                         "darkest places are above it.")
    return notes


def pollutant_map(geometry: ReportGeometry, *, pollutant: str = "NO2", grid=None,
                  values: Mapping[str, float] | None = None, uk_limit: float | None = None,
                  who_guideline: float | None = None, units: str = "µg/m³",
                  focus_ids: Sequence[str] = (), focus_point: FocusPoint | None = None,
                  source: str | None = None, year: str | None = None):
    """The pollutant beside the SIR map: the grid (clipped to the study area) or per-area values,
    named areas outlined, the UK limit and the WHO 2021 guideline marked on the colour bar."""
    import matplotlib as mpl
    import shapely

    fig, ax = new_map_figure(geometry.bounds(), below_in=1.85)
    cmap = mpl.colormaps[POLLUTANT_COLOUR_MAP]
    clip = geometry.outline
    if clip is None and geometry.polygons is not None:
        clip = shapely.union_all([p for p in geometry.polygons if p is not None])
    if grid is not None:
        grid = grid.sortby("x").sortby("y").transpose("y", "x")
        data = _inside(grid, clip)
        vmin, vmax, dmin, dmax = colour_range(data, uk_limit)
        mappable = draw_grid_image(ax, grid, cmap=cmap, vmin=vmin, vmax=vmax, clip=clip)
        if geometry.polygons is not None:
            draw_shapes(ax, list(geometry.polygons), edgecolor="white", linewidth=0.3, zorder=2)
        elif geometry.outline is not None:
            draw_shapes(ax, [geometry.outline], edgecolor="#333333", linewidth=0.9, zorder=2)
    else:
        vals = np.array([float(values.get(i, np.nan)) if values else np.nan
                         for i in geometry.ids])
        vmin, vmax, dmin, dmax = colour_range(vals, uk_limit, top_percentile=100.0)
        norm = mpl.colors.Normalize(vmin=vmin, vmax=vmax)
        colours = [cmap(norm(v)) if np.isfinite(v) else NO_DATA_COLOUR for v in vals]
        if geometry.outline is not None:
            draw_shapes(ax, [geometry.outline], facecolors="#fbfbfb", edgecolor="#333333",
                        linewidth=0.9, zorder=1)
        if geometry.polygons is not None:
            draw_shapes(ax, list(geometry.polygons), facecolors=colours, edgecolor="#ffffff",
                        linewidth=0.35, zorder=2)
        else:
            ax.scatter(geometry.points[:, 0], geometry.points[:, 1], s=34, c=colours,
                       edgecolors="#444444", linewidths=0.5, zorder=3)
        mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    focus_idx = geometry.index(focus_ids)
    _draw_focus(ax, geometry, focus_idx, focus_point, spacing=_point_spacing(geometry.points))
    place_labels(fig, ax, _focus_labels(geometry, focus_idx, [], focus_point),
                 obstacles=_obstacles(geometry, focus_idx, focus_point, []))
    add_scale_bar(ax)
    add_north_arrow(ax)
    height = fig.get_figheight()
    cax = fig.add_axes((0.06, 1.45 / height, 0.86, 0.14 / height))
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max",
              (True, True): "both"}[(dmin is not None and dmin < vmin,
                                     dmax is not None and dmax > vmax)]
    bar = fig.colorbar(mappable, cax=cax, orientation="horizontal", extend=extend)
    name = DISPLAY_NAMES.get(pollutant, pollutant)
    bar.set_label(f"{name}, annual mean ({units})" + (f", {year}" if year else ""), fontsize=8)
    cax.tick_params(labelsize=7.5)
    notes = []
    if vmin is not None:
        notes = _limit_marks(cax, vmin, vmax, dmin, dmax,
                             [(uk_limit, "UK limit", "solid"), (who_guideline, "WHO guideline",
                                                                (0, (2, 1)))])
    lines = [*notes]
    lines.append("Solid line: UK limit. Dotted line: WHO 2021 guideline.")
    import textwrap

    wrapped = [w for line in lines for w in textwrap.wrap(line, int(fig.get_figwidth() * 16))]
    fig.text(0.06, 0.9 / height, "\n".join(wrapped), fontsize=7.5, va="top", ha="left",
             linespacing=1.3)
    add_attribution(fig, [*geometry.attribution, *( [f"Pollution: {source}"] if source else [])])
    return fig

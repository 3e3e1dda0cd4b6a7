"""The accuracy–cost plane every explorer draws, and the fast redraw they share.

- `LiveFigure`: ONE matplotlib figure per explorer, kept for its whole life and shown as a
  JPEG in a `widgets.Image`. Artists that move on every control change are registered with
  `animate(...)`: a redraw pastes the cached background (axes, ticks, curves) and draws only
  them (blitting, a few ms). Anything else changed (a new curve, new limits) → `invalidate()`,
  and the next `render()` redraws the whole figure once.
- `Plane`: one axes showing the curve of the current policy family, the oracle envelope (the
  least mean cost any assignment of inputs to these exits pays for each accuracy) and the
  current operating point; its limits only grow, so the axes never jump while dragging.
- `ExitHistogram`: where the inputs leave, one bar per exit (the counts are in the text).

Costs are fractions of the plain network (the final exit alone, no early heads); a policy
can cost more than 100 %: the early heads it evaluates on the way are extra FLOPs.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .._checks import check_float, check_int

PLAIN_LABEL = "plain network (100 %)"
# the live figures look the same whatever style a notebook set for its own figures
STYLE = {"font.size": 8.5, "axes.titlesize": 9.5, "axes.labelsize": 8.5, "legend.fontsize": 7.5}


@contextmanager
def _style():
    """Matplotlib's default style with the explorers' font sizes (around building a view)."""
    with mpl.style.context("default"), mpl.rc_context(STYLE):
        yield


class LiveFigure:
    """One figure, rendered to JPEG into `self.image` by `render()`; see the module doc.

    ncols: axes side by side (`self.axes`, always a list); figsize in inches; dpi: pixels
    per inch of the PNG; width_ratios: relative widths of the axes."""

    def __init__(self, ncols: int = 2, figsize=(10.0, 3.0), dpi: int = 80, width_ratios=None):
        ncols = check_int(ncols, "ncols", low=1)
        dpi = check_int(dpi, "dpi", low=20, high=400)
        if (
            not isinstance(figsize, (tuple, list))
            or len(figsize) != 2
            or not all(isinstance(v, (int, float)) and v > 0 for v in figsize)
        ):
            raise ValueError(f"figsize must be (width, height) in inches > 0, got {figsize!r}")
        if width_ratios is not None and len(width_ratios) != ncols:
            raise ValueError(f"width_ratios must give {ncols} widths, got {width_ratios!r}")
        with _style():
            self.fig = Figure(figsize=tuple(figsize), dpi=dpi)
            self.canvas = FigureCanvasAgg(self.fig)
            axes = self.fig.subplots(1, ncols, width_ratios=width_ratios)
        self.axes = list(np.atleast_1d(axes))
        width, height = self.canvas.get_width_height()
        self.image = widgets.Image(
            format="jpeg", layout=widgets.Layout(width=f"{width}px", height=f"{height}px")
        )
        self.image.add_class("mexit-figure")
        self._animated: list = []
        self._background = None
        self.full_draws = 0  # how many full redraws so far (the rest are blits)
        self.last_render_ms = math.nan

    def resize(self, width: float, height: float) -> None:
        """New figure size in inches (the image follows); redraws everything next time."""
        self.fig.set_size_inches(width, height)
        w, h = self.canvas.get_width_height()
        self.image.layout.width, self.image.layout.height = f"{w}px", f"{h}px"
        self.invalidate()

    def animate(self, *artists) -> None:
        """Register artists redrawn on every render over the cached background."""
        for a in artists:
            a.set_animated(True)
            self._animated.append(a)
        self.invalidate()

    def invalidate(self) -> None:
        """Something besides the animated artists changed: the next render draws it all."""
        self._background = None

    def render(self) -> bytes:
        """Draw (blit if nothing else changed), encode, set `image.value`; the JPEG bytes."""
        t0 = time.perf_counter()
        if self._background is None:
            self.canvas.draw()  # animated artists are skipped by a full draw
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self.full_draws += 1
        else:
            self.canvas.restore_region(self._background)
        renderer = self.canvas.get_renderer()
        for a in self._animated:
            if a.get_visible():
                a.draw(renderer)
        rgba = Image.frombuffer(
            "RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        buf = io.BytesIO()
        # JPEG without chroma subsampling: ~1 ms, where PNG encoding takes ~20 ms
        rgba.convert("RGB").save(buf, format="jpeg", quality=90, subsampling=0)
        data = buf.getvalue()
        self.image.value = data
        self.last_render_ms = 1e3 * (time.perf_counter() - t0)
        return data

    def _repr_jpeg_(self) -> bytes:  # static pages (nbconvert) show the figure itself
        return self.render()


def _xy(curve, name: str):
    """(cost fractions, accuracies) as arrays from a `Curve` or a pair; None stays None."""
    if curve is None:
        return None
    if hasattr(curve, "cost_fraction") and hasattr(curve, "accuracy"):
        x, y = curve.cost_fraction, curve.accuracy
    elif isinstance(curve, (tuple, list)) and len(curve) == 2:
        x, y = curve
    else:
        raise TypeError(f"{name} must be a Curve or a pair (cost fractions, accuracies)")
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"{name} must hold as many cost fractions as accuracies (≥ 1)")
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or (y < 0).any() or (y > 1).any():
        raise ValueError(f"{name} must hold finite cost fractions and accuracies in [0, 1]")
    return x, y


class Plane:
    """The accuracy–cost plane on `ax` (of `live`): `set_curves` for the policy family's
    curve and the oracle envelope (they change with criterion or placement), `move` for the
    operating point (every control change). Axes in % of the plain network / % accuracy.

    family_label: legend text of the family's curve (e.g. "entropy ≤ β, β swept")."""

    def __init__(
        self,
        ax,
        live: LiveFigure,
        *,
        family_label: str = "this policy, threshold swept",
        point_label: str = "this setting",
        title: str = "accuracy vs cost",
    ):
        if not isinstance(live, LiveFigure):
            raise TypeError(f"live must be a LiveFigure, got {type(live).__name__}")
        if ax not in live.axes:
            raise ValueError("ax must be one of live.axes")
        for name, value in (("family_label", family_label), ("point_label", point_label)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        self.ax, self.live = ax, live
        ax.set(
            xlabel="mean cost (% of the plain network)",
            ylabel="test accuracy (%)",
            title=title,
        )
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3, lw=0.5)
        self.plain = ax.axvline(100, color="0.55", lw=1, ls="-.", label=PLAIN_LABEL)
        (self.family,) = ax.plot([], [], "-", color="tab:blue", lw=1.5, label=family_label)
        (self.oracle,) = ax.plot([], [], "--", color="black", lw=1, label="oracle (least cost)")
        (self.point,) = ax.plot(
            [], [], "o", color="tab:red", ms=9, mec="white", zorder=5, label=point_label
        )
        self.extra: dict = {}
        self._xlim, self._ylim = (0.0, 105.0), None
        # curves are animated too: a new curve (criterion, placement) is a blit, not a redraw
        live.animate(self.family, self.oracle, self.point)
        self._legend()

    def _legend(self) -> None:
        # outside the axes, right: never over the data
        self.ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7.5, frameon=False)

    def add_point(self, name: str, label: str, **style):
        """A second moving marker (e.g. another policy at the same controls)."""
        (artist,) = self.ax.plot([], [], label=label, zorder=5, **({"ls": "none"} | style))
        self.extra[name] = artist
        self.live.animate(artist)
        self._legend()
        return artist

    def add_curve(self, name: str, label: str, **style):
        """A second curve (e.g. a reference policy), set with `set_curves(**{name: ...})`."""
        (artist,) = self.ax.plot([], [], label=label, **style)
        self.extra[name] = artist
        self.live.animate(artist)
        self._legend()
        return artist

    def _grow(self, x, y) -> bool:
        """Widen the limits to hold (x %, y %) with a margin; True if they changed."""
        x0, x1 = self._xlim
        nx1 = max(x1, 1.05 * float(np.max(x)) + 1.0)
        ylo, yhi = float(np.min(y)), float(np.max(y))
        if self._ylim is None:
            pad = max(2.0, 0.08 * (yhi - ylo))
            ny = (max(0.0, ylo - pad), min(100.0, yhi + pad) + 0.5)
        else:
            y0, y1 = self._ylim
            ny = (
                min(y0, max(0.0, ylo - 2.0)) if ylo < y0 else y0,
                max(y1, min(100.5, yhi + 2.0)) if yhi > y1 else y1,
            )
        changed = (x0, nx1) != self._xlim or ny != self._ylim
        self._xlim, self._ylim = (x0, nx1), ny
        if changed:
            self.ax.set_xlim(*self._xlim)
            self.ax.set_ylim(*self._ylim)
            self.live.invalidate()
        return changed

    def set_curves(self, family=None, oracle=None, family_label: str | None = None, **extra):
        """New curves (a `mexit.policies.Curve` or (cost fractions, accuracies)); None hides
        one. `extra`: curves added by `add_curve`, by name. A full redraw only if the limits
        grow or the legend changes."""
        for artist, curve, name in [
            (self.family, family, "family"),
            (self.oracle, oracle, "oracle"),
            *[(self.extra[k], v, k) for k, v in extra.items()],
        ]:
            xy = _xy(curve, name)
            if xy is None:
                artist.set_data([], [])
                continue
            x, y = 100 * xy[0], 100 * xy[1]
            order = np.argsort(x, kind="stable")
            artist.set_data(x[order], y[order])
            self._grow(x, y)
        if family_label is not None and family_label != self.family.get_label():
            self.family.set_label(family_label)
            self._legend()
            self.live.invalidate()

    def move(self, cost_fraction: float, accuracy: float, name: str | None = None) -> None:
        """Put the operating point (or the extra point `name`) at this cost and accuracy."""
        c = check_float(cost_fraction, "cost_fraction", low=0.0)
        a = check_float(accuracy, "accuracy", low=0.0, high=1.0)
        artist = self.point if name is None else self.extra[name]
        artist.set_data([100 * c], [100 * a])
        self._grow([100 * c], [100 * a])


class ExitHistogram:
    """Where the inputs leave: one bar per exit (% of inputs); exits switched off are grey.
    colors: one colour per exit (default all blue)."""

    def __init__(
        self,
        ax,
        live: LiveFigure,
        exits: Sequence,
        title: str = "where the inputs leave",
        colors=None,
    ):
        if not isinstance(live, LiveFigure):
            raise TypeError(f"live must be a LiveFigure, got {type(live).__name__}")
        if ax not in live.axes:
            raise ValueError("ax must be one of live.axes")
        self.exits = tuple(exits)
        if not self.exits:
            raise ValueError("exits must name at least one exit")
        self.ax, self.live = ax, live
        self.colors = list(colors) if colors is not None else ["tab:blue"] * len(self.exits)
        if len(self.colors) != len(self.exits):
            raise ValueError(f"colors must give one colour per exit ({len(self.exits)})")
        ax.set(ylim=(0, 100), ylabel="inputs (%)", title=title)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.title.set_fontsize(10)
        self.bars = []
        self._make_bars()

    def _make_bars(self) -> None:
        x = np.arange(len(self.exits))
        self.bars = list(self.ax.bar(x, np.zeros(len(x)), color=self.colors, width=0.7))
        self.ax.set_xticks(x, [str(e) for e in self.exits])
        self.ax.set_xlabel("exit (block)")
        self.ax.set_xlim(-0.6, len(x) - 0.4)
        self.live.animate(*self.bars)

    def set_exits(self, exits: Sequence, colors=None) -> None:
        """Another set of exits (e.g. another backbone): new bars, one full redraw."""
        exits = tuple(exits)
        if not exits:
            raise ValueError("exits must name at least one exit")
        for bar in self.bars:
            self.live._animated.remove(bar)
            bar.remove()
        self.exits = exits
        self.colors = list(colors) if colors is not None else ["tab:blue"] * len(exits)
        self._make_bars()

    def update(self, counts: Sequence, on: Sequence | None = None, colors=None) -> None:
        """counts: inputs leaving at each exit (0 for exits switched off); on: which exits
        exist (grey otherwise); colors: new colours per exit (e.g. tiers)."""
        counts = [int(c) for c in counts]
        if len(counts) != len(self.exits) or min(counts) < 0:
            raise ValueError(f"counts must give {len(self.exits)} counts ≥ 0, got {counts}")
        on = [True] * len(counts) if on is None else list(on)
        if len(on) != len(counts):
            raise ValueError(f"on must give one flag per exit ({len(counts)})")
        if colors is not None:
            self.colors = list(colors)
        n = max(sum(counts), 1)
        for bar, c, o, col in zip(self.bars, counts, on, self.colors):
            bar.set_height(100 * c / n)
            bar.set_color(col if o else "lightgray")

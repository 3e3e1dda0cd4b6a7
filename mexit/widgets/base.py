"""The explorer pattern: each owns its ipywidgets controls and a pure `compute(**values)`.

The pattern every notebook reuses: outputs of every exit are computed once, so moving a
control only re-runs `compute` (a few milliseconds), never the network. Tests set a
control's `.value` and check `result()`, no browser or kernel needed.
"""

from __future__ import annotations

import html
import time
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from ..policies import accuracy_cost_curve, oracle_curve
from .plane import ExitHistogram, LiveFigure, Plane, _style

CRITERION_OPTIONS = [
    ("entropy ≤ β (eq. 11)", "entropy"),
    ("max probability ≥ τ", "max_probability"),
]

# what each criterion's slider says, in words: the exit rule and its units
THRESHOLD_LABELS = {
    "entropy": "exit when entropy ≤ β",
    "max_probability": "exit when max probability ≥ τ",
}

CAPTION = (
    "FLOPs = floating-point operations per input. Cost in % of the plain network (the "
    "final exit alone, no early heads): above 100 % the early heads evaluated on the way "
    "cost more than they save. Entropy is normalized to [0, 1]: a higher β lets more inputs "
    "leave early (cheaper); a higher τ keeps more inputs (costlier)."
)


def format_flops(flops: float) -> str:
    """FLOPs with a readable unit: 438.7 kFLOPs, 1.25 MFLOPs, 3.1 GFLOPs."""
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if abs(flops) >= scale:
            return f"{flops / scale:.{1 if unit == 'kFLOPs' else 2}f} {unit}"
    return f"{flops:.0f} FLOPs"


def threshold_slider(
    description: str, value: float = 0.5, lo: float = 0.0, hi: float = 1.0
) -> widgets.FloatSlider:
    """A slider that acts on release, wide enough that its track stays usable."""
    return widgets.FloatSlider(
        value=value,
        min=lo,
        max=hi,
        step=0.01,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
        layout=widgets.Layout(width="520px"),
    )


def exit_toggles(exits) -> dict:
    """One "keep exit e" checkbox per early exit, named `exit_e`."""
    return {
        f"exit_{e}": widgets.Checkbox(
            value=True,
            description=f"keep exit {e}",
            indent=False,
            layout=widgets.Layout(width="auto", margin="0 12px 0 0"),
        )
        for e in exits
    }


def exits_taken(exits, counts) -> str:
    """'exit 1: 312 · exit 2: 90 · exit 4: 598 inputs'."""
    return " · ".join(f"exit {e}: {c}" for e, c in zip(exits, counts)) + " inputs"


def cost_text(mean_flops: float, cost_fraction: float) -> str:
    """'1.25 MFLOPs = 63.0 % of the plain network' (+ why, above 100 %)."""
    text = f"{format_flops(mean_flops)} = {100 * cost_fraction:.1f} % of the plain network"
    if cost_fraction > 1 + 5e-4:
        text += " (above 100 %: the early heads on the way cost extra FLOPs)"
    return text


class Explorer:
    """Base class: `controls` maps names to widgets; `compute(**values)` is pure.

    Live explorers override `build_view()` (return a `LiveFigure`, keep its artists) and
    `draw(result)` (update those artists): `show()` then redraws the same figure on every
    control change, blitting what moves. `summary(result)` is a deterministic text of the
    result, shown under the figure. The "main" trade-off view (exit histogram beside the
    accuracy–cost plane) is `tradeoff_view()` / `draw_tradeoff()`, driven by
    `family(result)`."""

    controls: dict
    view: LiveFigure | None = None
    text: widgets.HTML | None = None
    _holding: int = 0
    last_redraw_ms: float = float("nan")

    def values(self) -> dict:
        """The controls' current values, as keyword arguments for `compute`."""
        return {name: c.value for name, c in self.controls.items()}

    def result(self) -> dict:
        """`compute` at the controls' current values."""
        return self.compute(**self.values())

    def compute(self, **values) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def live(self) -> bool:
        """True if this explorer draws a live view (`build_view`/`draw` overridden)."""
        return type(self).build_view is not Explorer.build_view

    def plot(self, result: dict):
        """A static figure of `result`: the live view drawn once, in a fresh figure (the
        live one, if shown, is left as it is). Returns the matplotlib Figure."""
        if not self.live:  # pragma: no cover - abstract
            raise NotImplementedError
        saved = dict(self.__dict__)
        try:
            with _style():
                view = self.view = self.build_view()
            self.draw(result)
            view.render()
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)
        return view.fig

    def _render(self, **values) -> None:  # the path of explorers without a live view
        result = self.compute(**values)
        self.plot(result)
        plt.show()
        print(self.summary(result))

    def summary(self, result: dict) -> str:
        text = (
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean cost "
            f"{cost_text(result['mean_flops'], result['cost_fraction'])}"
        )
        if "exit_counts" in result:
            exits = result.get("exits", getattr(self, "exits", ()))
            if len(exits) != len(result["exit_counts"]):
                exits = self.exits
            text += f"\nexits taken: {exits_taken(exits, result['exit_counts'])}"
        return text

    # -- the live view -------------------------------------------------------------------
    def build_view(self) -> LiveFigure:  # pragma: no cover - overridden
        raise NotImplementedError

    def draw(self, result: dict) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @contextmanager
    def hold(self):
        """Change several controls at once and redraw once, at the end."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding and self.view is not None:
            self.redraw()

    @contextmanager
    def quiet(self):
        """Change controls without any redraw (an observer that runs before the redraw)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def redraw(self, _change=None) -> dict | None:
        """compute at the controls' values, update the figure and the text; the result."""
        if self._holding:
            return None
        t0 = time.perf_counter()
        result = self.result()
        self.draw(result)
        self.view.render()
        self.text.value = (
            '<pre style="margin:0;white-space:pre-wrap;font-size:12px">'
            f"{html.escape(self.summary(result))}</pre>"
        )
        self.last_redraw_ms = 1e3 * (time.perf_counter() - t0)
        return result

    def layout(self) -> widgets.Widget:
        return widgets.VBox(list(self.controls.values()))

    def show(self) -> widgets.Widget:
        """Display the controls, the live figure and the numbers in the notebook."""
        box = self.widget()
        display(box)
        return box

    def widget(self) -> widgets.Widget:
        """The explorer's box (controls, live figure, numbers), drawn once, not displayed."""
        if not self.live:  # no live view: re-plot into an Output on every change
            out = widgets.interactive_output(self._render, self.controls)
            return widgets.VBox([self.layout(), out])
        if self.view is None:
            with _style():
                self.view = self.build_view()
            self.text = widgets.HTML()
            self.text.add_class("mexit-summary")
            for c in self.controls.values():
                c.observe(self.redraw, names="value")
        self.redraw()
        caption = widgets.HTML(
            f'<div style="font-size:11px;color:#555;max-width:800px">{CAPTION}</div>'
        )
        box = widgets.VBox([self.layout(), self.view.image, self.text, caption])
        box.add_class("mexit-explorer")
        return box

    # -- the main trade-off view: exit histogram beside the accuracy-cost plane ----------
    def family(self, result: dict):
        """(key, probs, labels, Gamma, full_cost, criterion, label) of the policy family the
        result belongs to: its curve is the criterion's threshold swept on these outputs;
        the oracle uses the same exits. key: anything hashable naming it (cached)."""
        raise NotImplementedError  # pragma: no cover - overridden

    def curves(self, key, probs, labels, Gamma, full_cost, criterion):
        """(family Curve, oracle Curve) for these outputs, cached by key."""
        cache = self.__dict__.setdefault("_curve_cache", {})
        if key not in cache:
            Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
            if probs.shape[0] == 1:  # the final exit alone: one point, no threshold to sweep
                acc = float((probs[0].argmax(-1) == labels).double().mean())
                family = ([float(Gamma[0]) / full_cost], [acc])
            else:
                family = accuracy_cost_curve(
                    probs, labels, criterion, Gamma, full_cost, n_points=101
                )
            cache[key] = (family, oracle_curve(probs, labels, Gamma, full_cost))
        return cache[key]

    def tradeoff_view(self, exits, *, extra: int = 0, title: str | None = None) -> LiveFigure:
        """A LiveFigure: the exit histogram over `exits` (axes 0), `extra` axes of the
        explorer's own (axes 1..extra), and the accuracy–cost plane last (`self.plane`), its
        legend outside on the right."""
        ncols = 2 + extra
        width = {2: 10.5, 3: 12.5, 4: 14.5}.get(ncols, 3.6 * ncols)
        view = LiveFigure(
            ncols=ncols,
            figsize=(width, 2.9),
            dpi=80 if ncols == 2 else 72,
            width_ratios=(1,) * (ncols - 1) + (1.25,),
        )
        self.histogram = ExitHistogram(view.axes[0], view, exits)
        self.plane = Plane(view.axes[-1], view, **({} if title is None else {"title": title}))
        self._family_key = None
        right = {2: 0.79, 3: 0.81, 4: 0.84}.get(ncols, 0.84)
        view.fig.subplots_adjust(left=0.06, right=right, bottom=0.17, top=0.9, wspace=0.32)
        return view

    def draw_tradeoff(self, result: dict, counts, on=None) -> None:
        """Histogram ← counts (one per exit of the histogram), plane ← family and point."""
        self.histogram.update(counts, on)
        key, probs, labels, Gamma, full, criterion, label = self.family(result)
        if key != self._family_key:
            family, oracle = self.curves(key, probs, labels, Gamma, full, criterion)
            self.plane.set_curves(family, oracle, family_label=label)
            self._family_key = key
        self.plane.move(result["cost_fraction"], result["accuracy"])

    @staticmethod
    def spread(exits_all, exits_chosen, counts) -> tuple[list, list]:
        """Counts over the chosen exits → (counts over every exit, which exits are on)."""
        by = dict(zip(exits_chosen, counts))
        return [by.get(e, 0) for e in exits_all], [e in by for e in exits_all]


def exit_bars(ax, exits, fractions, title: str, highlight=None) -> None:
    labels = [f"exit {e}" for e in exits]
    colors = [
        "tab:blue" if highlight is None or h else "lightgray"
        for h in (highlight or [True] * len(exits))
    ]
    ax.bar(labels, [100 * f for f in fractions], color=colors)
    ax.set_ylim(0, 100)
    ax.set_title(title)


class LinkedThresholds:
    """Mixin for explorers with one shared threshold slider (`self.threshold`), a "one shared
    threshold" checkbox (`self.shared`) and per-exit sliders (`self.per_exit`): the per-exit
    sliders follow the shared one until the student moves one of them, so unticking the box
    changes no number and what the student set survives mode switches. Call
    `_link_thresholds()` at the end of `__init__`, before `show()` adds its redraw observers
    (they must run after the sync, for one redraw per change)."""

    def _link_thresholds(self) -> None:
        self._linked = True  # per-exit sliders follow the shared one until one is moved
        self._syncing = False
        self.threshold.observe(self._on_shared, names="value")
        self.shared.observe(self._on_shared, names="value")
        for s in self.per_exit.values():
            s.observe(self._on_per_exit, names="value")

    def _sync(self) -> None:
        if self._linked:
            self._syncing = True
            try:
                with self.quiet():
                    for s in self.per_exit.values():
                        s.value = self.threshold.value
            finally:
                self._syncing = False

    def _on_shared(self, _change) -> None:
        self._sync()

    def _on_per_exit(self, _change) -> None:
        if not self._syncing:
            self._linked = False

"""The explorer pattern: each owns its ipywidgets controls and a pure `compute(**values)`.

The pattern every notebook reuses: outputs of every exit are computed once, so moving a
control only re-runs `compute` (a few milliseconds), never the network. Tests set a
control's `.value` and check `result()`, no browser or kernel needed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

CRITERION_OPTIONS = [
    ("normalized entropy H ≤ β (eq. 11)", "entropy"),
    ("max probability ≥ τ", "max_probability"),
]


def format_flops(flops: float) -> str:
    """FLOPs with a readable unit: 438.7 kFLOPs, 1.25 MFLOPs, 3.1 GFLOPs."""
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if abs(flops) >= scale:
            return f"{flops / scale:.{1 if unit == 'kFLOPs' else 2}f} {unit}"
    return f"{flops:.0f} FLOPs"


def threshold_slider(description: str, value: float = 0.5) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=value,
        min=0.0,
        max=1.0,
        step=0.01,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )


class Explorer:
    """Base class: `controls` maps names to widgets; `compute(**values)` is pure."""

    controls: dict

    def values(self) -> dict:
        """The controls' current values, as keyword arguments for `compute`."""
        return {name: c.value for name, c in self.controls.items()}

    def result(self) -> dict:
        """`compute` at the controls' current values."""
        return self.compute(**self.values())

    def compute(self, **values) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def plot(self, result: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self, result: dict) -> str:
        return (
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean cost "
            f"{format_flops(result['mean_flops'])} = "
            f"{100 * result['cost_fraction']:.1f} % of the full network"
        )

    def _render(self, **values) -> None:
        result = self.compute(**values)
        self.plot(result)
        plt.show()
        print(self.summary(result))

    def layout(self) -> widgets.Widget:
        return widgets.VBox(list(self.controls.values()))

    def show(self) -> widgets.Widget:
        """Display the controls and a live output (plot + numbers) in the notebook."""
        out = widgets.interactive_output(self._render, self.controls)
        box = widgets.VBox([self.layout(), out])
        display(box)
        return box


def exit_bars(ax, exits, fractions, title: str, highlight=None) -> None:
    labels = [f"exit {e}" for e in exits]
    colors = [
        "tab:blue" if highlight is None or h else "lightgray"
        for h in (highlight or [True] * len(exits))
    ]
    ax.bar(labels, [100 * f for f in fractions], color=colors)
    ax.set_ylim(0, 100)
    ax.set_title(title)

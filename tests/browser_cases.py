"""The one table of the browser tests: every explorer of every notebook, and what to move.

A row names the notebook, the variable that holds the explorer (the cell that shows it runs
`<explorer>.show()`), and keys of `explorer.controls`: the main `slider` (moved by mouse, then
by keyboard) and one placement `toggle` (a checkbox clicked then toggled back with Space, or a
dropdown moved to its next option and back). A key may be a glob (`"exit_*"`: the first
matching control, in the order of `explorer.controls`). Labels, ranges and options are read
from the kernel at test time, so an explorer that renames a label or adds a control needs no
change here; one that renames a control key does. `voila=True` marks the explorer moved in
the notebook's Voila page (one per notebook).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass(frozen=True)
class Case:
    notebook: str  # file in notebooks/
    explorer: str  # the notebook's variable holding the explorer
    slider: str = "threshold"  # key in explorer.controls: the main slider
    toggle: str = "exit_*"  # key (or glob) in explorer.controls: a placement control
    voila: bool = False  # the explorer moved in the notebook's Voila page

    def __str__(self) -> str:
        return f"{Path(self.notebook).stem}-{self.explorer}-{self.slider}"


CASES = [
    Case("00_index.ipynb", "teaser", toggle="shared", voila=True),
    Case("00_index.ipynb", "placement"),
    Case("01_model.ipynb", "threshold_widget", toggle="shared"),
    Case("01_model.ipynb", "placement_widget", voila=True),
    Case("02_placement.ipynb", "explorer", voila=True),
    Case("03_joint_training.ipynb", "scheme_widget", voila=True),
    Case("04_layerwise_training.ipynb", "stages_widget", voila=True),
    Case("05_separate_training.ipynb", "head_widget", toggle="head_*", voila=True),
    Case("06_inference.ipynb", "explorer", voila=True),
    Case("07_cost_regularization.ipynb", "explorer", voila=True),
    Case("08_biological_plausibility.ipynb", "feedback_widget", toggle="mode", voila=True),
    Case("08_biological_plausibility.ipynb", "placement_widget"),
    Case("09_distributed.ipynb", "tier_widget", toggle="placement", voila=True),
    Case("09_distributed.ipynb", "tier_widget", slider="bandwidth", toggle="placement"),
    Case("10_information_bottleneck.ipynb", "info_widget", voila=True),
    Case("11_open_challenges.ipynb", "backbone_widget", toggle="backbone", voila=True),
    Case("11_open_challenges.ipynb", "placement_widget"),
]

ALL_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
VOILA = [case for case in CASES if case.voila]

"""Interactive explorers for the notebooks: each owns its ipywidgets controls and a pure
`compute(**values)`; see `base.Explorer`. One module per explorer family."""

from .base import Explorer
from .placement import PlacementExplorer
from .threshold import ThresholdExplorer

__all__ = ["Explorer", "PlacementExplorer", "ThresholdExplorer"]

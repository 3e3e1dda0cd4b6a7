"""Interactive explorers for the notebooks: each owns its ipywidgets controls and a pure
`compute(**values)`; see `base.Explorer`. One module per explorer family."""

from .base import Explorer
from .challenges import BackboneExplorer as BackboneExplorer
from .cost_reg import CostRegExplorer as CostRegExplorer
from .information import InformationExplorer as InformationExplorer
from .local import FeedbackExplorer as FeedbackExplorer
from .placement import PlacementExplorer
from .placement_search import PlacementSearchExplorer as PlacementSearchExplorer
from .policies import PolicyExplorer as PolicyExplorer
from .threshold import ThresholdExplorer
from .tiers import TierExplorer as TierExplorer
from .training import HeadKindExplorer as HeadKindExplorer
from .training import SchemeExplorer as SchemeExplorer
from .training import StagesExplorer as StagesExplorer

__all__ = [
    "BackboneExplorer",
    "CostRegExplorer",
    "Explorer",
    "FeedbackExplorer",
    "HeadKindExplorer",
    "InformationExplorer",
    "PlacementExplorer",
    "PlacementSearchExplorer",
    "PolicyExplorer",
    "SchemeExplorer",
    "StagesExplorer",
    "ThresholdExplorer",
    "TierExplorer",
]

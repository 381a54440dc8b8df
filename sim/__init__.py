"""gridsim: an agent-based model of grid-based social governance (网格化管理) on Mesa."""

from .model import LEVERS, GovernanceModel, GovernanceScenario
from .scenario import Scenario, ScenarioError, load_scenario

__version__ = "0.1.0"
__all__ = ["GovernanceModel", "GovernanceScenario", "LEVERS", "Scenario", "ScenarioError", "load_scenario", "__version__"]

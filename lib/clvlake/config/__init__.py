"""Typed configuration loaded from YAML, validated with errors that name the key and the file.

`settings` holds the dataclasses, `loader` the generic typed-YAML reading, `validation` the rules between fields.
"""

from clvlake.config.loader import absolute_location, config_from_dict, expand_env, load_config, load_dataclass
from clvlake.config.settings import (
    LIFECYCLE_STAGES,
    MODEL_FORMS,
    TREE_ENGINES,
    ActionRow,
    ActionSpec,
    BtydSettings,
    BudgetSettings,
    Config,
    GbtSettings,
    LakeSettings,
    LifecycleRules,
    MlflowSettings,
    ModelSettings,
    Scenario,
    SparkSettings,
    TierRule,
)

__all__ = [
    "LIFECYCLE_STAGES",
    "MODEL_FORMS",
    "TREE_ENGINES",
    "ActionRow",
    "ActionSpec",
    "BtydSettings",
    "BudgetSettings",
    "Config",
    "GbtSettings",
    "LakeSettings",
    "LifecycleRules",
    "MlflowSettings",
    "ModelSettings",
    "Scenario",
    "SparkSettings",
    "TierRule",
    "absolute_location",
    "config_from_dict",
    "expand_env",
    "load_config",
    "load_dataclass",
]

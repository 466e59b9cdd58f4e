"""Consistency flags (86号 (九)): rules that compare a project's stages and deadlines."""

from hub.flags.engine import flags_for_project, rebuild, recompute_project, recompute_transactions
from hub.flags.registry import PROJECT_RULES

__all__ = [
    "PROJECT_RULES",
    "flags_for_project",
    "rebuild",
    "recompute_project",
    "recompute_transactions",
]

"""Policies: rules a CI gate and the service act on, evaluated over what is known of one image.

Pure domain logic: `Facts` (gathered by the policy job) in, a `PolicyReport` out. Built-in
policies live in `checks/`, one module per concern; `config` reads policy files.
"""

from basewatch.policy.builtin import BUILTINS, evaluate, evaluate_all
from basewatch.policy.config import PolicyFileError, default_policies, load_policy_file
from basewatch.policy.facts import Attestation, Facts
from basewatch.policy.model import (
    Action,
    Item,
    PolicyConfig,
    PolicyException,
    PolicyReport,
    PolicyRun,
    Status,
    Verdict,
)
from basewatch.policy.spec import Parameter, PolicySpec

__all__ = [
    "BUILTINS",
    "Action",
    "Attestation",
    "Facts",
    "Item",
    "Parameter",
    "PolicyConfig",
    "PolicyException",
    "PolicyFileError",
    "PolicyReport",
    "PolicyRun",
    "PolicySpec",
    "Status",
    "Verdict",
    "default_policies",
    "evaluate",
    "evaluate_all",
    "load_policy_file",
]

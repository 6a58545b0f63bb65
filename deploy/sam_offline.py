"""Offline SAM -> CloudFormation transform of template.yaml.

Shared by deploy/test_template_policies.py (policy/wiring checks) and
deploy/local_stack.py (creates the local stack on moto from the same
transformed template). No AWS calls and no credentials are needed: the
template is parsed with samtranslator's own YAML loader (short-form
intrinsics such as !Ref become Fn:: dicts) and transformed with
aws-sam-translator, as CloudFormation's AWS::Serverless transform would.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable, Optional

# samtranslator derives the partition from the boto3 session's region.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

TEMPLATE = Path(os.environ.get("ORDERFLOW_TEMPLATE", Path(__file__).resolve().parent.parent / "template.yaml"))


def load_sam(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse the SAM template, turning !Ref/!GetAtt/!Sub... into Fn:: dicts."""
    return yaml_parse(Path(path).read_text())


class NoManagedPolicies:
    """ManagedPolicyLoader stand-in: offline, and records whether SAM needed it.

    SAM only asks for the managed-policy map when a function uses `Policies`;
    this template gives every function an explicit Role, so it must not be asked.
    """

    def __init__(self) -> None:
        self.calls = 0

    def load(self) -> dict[str, str]:
        self.calls += 1
        return {}


def placeholder_code_uri(logical_id: str) -> str:
    return f"s3://offline-placeholder/{logical_id}.zip"


def to_cloudformation(
    sam: dict[str, Any],
    loader: Optional[NoManagedPolicies] = None,
    code_uri: Callable[[str], str] = placeholder_code_uri,
) -> dict[str, Any]:
    """Transform SAM -> CloudFormation offline.

    Local CodeUri paths are swapped for s3:// URIs first (code_uri(logical_id)),
    as `sam package` does, since the translator only accepts S3 locations.
    """
    sam = copy.deepcopy(sam)
    for logical_id, res in sam.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            code = res.get("Properties", {}).get("CodeUri")
            if isinstance(code, str) and not code.startswith("s3://"):
                res["Properties"]["CodeUri"] = code_uri(logical_id)
    return transform(sam, {}, loader or NoManagedPolicies())

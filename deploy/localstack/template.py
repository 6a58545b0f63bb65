"""template.yaml as moto's CloudFormation gets it: transformed offline from
SAM, the functions' code a placeholder zip, parameters checked like
CloudFormation checks them."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from sam_offline import TEMPLATE, load_sam, to_cloudformation

from .errors import LocalStackError

CODE_KEY = "placeholder/bootstrap.zip"


def placeholder_zip() -> bytes:
    """A zip with an executable `bootstrap` that only says it is a placeholder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, "#!/bin/sh\necho 'orderflow local stack: placeholder code, not invocable' >&2\nexit 1\n")
    return buf.getvalue()


def code_bucket_name(stack_name: str) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", f"{stack_name.lower()}-lambda-code")[:63].strip("-")
    return name if len(name) >= 3 else f"{name}-code"


def transformed_template(code_bucket: str, code_key: str = CODE_KEY, template: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml transformed to CloudFormation, functions' code in code_bucket."""
    return to_cloudformation(load_sam(template), code_uri=lambda _logical_id: f"s3://{code_bucket}/{code_key}")


def resolve_parameters(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Template defaults + overrides, checked like CloudFormation checks them.

    Values are what Ref returns: strings (lists for List<...>/CommaDelimitedList).
    """
    declared = cfn.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise LocalStackError(f"unknown parameter(s) {unknown}; the template declares {sorted(declared)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise LocalStackError(f"parameter {name} has no Default; pass -p {name}=VALUE")
        value = str(raw) if not isinstance(raw, list) else ",".join(map(str, raw))
        ptype = spec.get("Type", "String")
        if ptype == "Number":
            try:
                number = float(value)
            except ValueError:
                raise LocalStackError(f"parameter {name}={value!r} is not a Number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise LocalStackError(f"parameter {name}={value} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise LocalStackError(f"parameter {name}={value} is above MaxValue {spec['MaxValue']}")
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            raise LocalStackError(f"parameter {name}={value!r} is not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise LocalStackError(f"parameter {name}={value!r} does not match {spec['AllowedPattern']}")
        if ptype.startswith("List<") or ptype == "CommaDelimitedList":
            values[name] = value.split(",") if value else []
        else:
            values[name] = value
    return values

"""CloudFormation intrinsic functions, resolved against a created stack.

Neither samtranslator nor cfn-lint can do this for us: samtranslator's
IntrinsicsResolver only substitutes parameters and SAM's own references
(no conditions, Fn::If/Join/Select/Split, nor attribute values of created
resources), and cfn-lint resolves values only to validate a template, with
no created resources behind them. So this module is ours, kept small and
pure: where an attribute of a created resource is needed, it asks the
`get_att` callback it is given (the moto lookups are in attributes.py).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .errors import LocalStackError

NO_VALUE = object()  # AWS::NoValue

# (logical id, resource type, physical id, attribute) -> value
GetAtt = Callable[[str, str, str, str], Any]


def pseudo_parameters(region: str, account_id: str, stack_name: str, stack_id: str) -> dict[str, str]:
    """AWS::Region, AWS::Partition, ... as CloudFormation gives them for this stack."""
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }


class Resolver:
    """Resolves CloudFormation intrinsics against the stack moto created."""

    def __init__(
        self,
        cfn: dict[str, Any],
        parameters: dict[str, Any],
        physical: dict[str, str],
        pseudo: dict[str, str],
        get_att: GetAtt,
    ) -> None:
        self.cfn = cfn
        self.parameters = parameters
        self.physical = physical
        self.pseudo = pseudo
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}
        self._atts: dict[tuple[str, str], Any] = {}

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.cfn.get("Conditions", {})
            if name not in conditions:
                raise LocalStackError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.cfn["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # -- values
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key, arg)
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def _fn(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            logical_id, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical_id, self.resolve(attr))
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::If":
            cond, if_true, if_false = arg
            return self.resolve(if_true if self.condition(cond) else if_false)
        if key == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return scalar(a) == scalar(b)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(x) for x in arg)
        if key == "Fn::Or":
            return any(self.resolve(x) for x in arg)
        if key == "Fn::Join":
            sep, items = arg
            return self.resolve(sep).join(str(scalar(x)) for x in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return self.resolve(text).split(self.resolve(sep))
        raise LocalStackError(f"intrinsic {key} is not supported by deploy/local_stack.py")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(scalar(variables[name]))
            if "." in name and name not in self.parameters and name not in self.pseudo:
                logical_id, attr = name.split(".", 1)
                return str(self.get_att(logical_id, attr))
            return str(scalar(self.ref(name)))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        if name in self.cfn.get("Resources", {}):
            raise LocalStackError(f"Ref {name}: the resource was not created on moto")
        raise LocalStackError(f"Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attr: str) -> Any:
        key = (logical_id, attr)
        if key not in self._atts:
            rtype = self.cfn["Resources"][logical_id]["Type"]
            self._atts[key] = self._get_att(logical_id, rtype, self.ref(logical_id), attr)
        return self._atts[key]


def scalar(value: Any) -> Any:
    """CloudFormation compares/joins scalars as strings; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"

"""deploy/localstack/intrinsics.py: CloudFormation intrinsics resolved against
a created stack, without moto (attribute values come from a stub callback).

Run: deploy/validate-template.sh (or `pytest deploy/test_intrinsics.py`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localstack.errors import LocalStackError  # noqa: E402
from localstack.intrinsics import NO_VALUE, Resolver, as_bool, pseudo_parameters, scalar  # noqa: E402

CFN: dict[str, Any] = {
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "StageName"}, "prod"]},
        "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
        "ProdWithAlarms": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "HasAlarmTopic"}]},
        "ProdOrAlarms": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "HasAlarmTopic"}]},
    },
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Condition": "IsProd"},
        "Skipped": {"Type": "AWS::SNS::Subscription"},
    },
}
PHYSICAL = {"Queue": "http://localhost/123456789012/q", "Topic": "arn:aws:sns:us-east-1:123456789012:t"}


def resolver(stage: str = "dev", alarm_topic: str = "", calls: list[tuple[str, ...]] | None = None) -> Resolver:
    def get_att(logical_id: str, rtype: str, pid: str, attr: str) -> Any:
        if calls is not None:
            calls.append((logical_id, rtype, pid, attr))
        return f"{rtype}/{pid}/{attr}"

    pseudo = pseudo_parameters("us-east-1", "123456789012", "orderflow-dev", "stack-id")
    params = {"StageName": stage, "AlarmTopicArn": alarm_topic, "Subnets": ["a", "b"]}
    return Resolver(CFN, params, PHYSICAL, pseudo, get_att)


def test_refs_resolve_to_parameters_pseudo_parameters_and_physical_ids() -> None:
    r = resolver()
    assert r.resolve({"Ref": "StageName"}) == "dev"
    assert r.resolve({"Ref": "Subnets"}) == ["a", "b"]
    assert r.resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert r.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert r.resolve({"Ref": "Topic"}) == PHYSICAL["Topic"]


def test_no_value_drops_the_key_or_list_item() -> None:
    r = resolver()
    assert r.resolve({"A": {"Ref": "AWS::NoValue"}, "B": 1}) == {"B": 1}
    assert r.resolve([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]
    assert r.ref("AWS::NoValue") is NO_VALUE


def test_sub_substitutes_parameters_attributes_variables_and_keeps_literals() -> None:
    r = resolver()
    assert r.resolve({"Fn::Sub": "orderflow-${StageName}-${AWS::Region}"}) == "orderflow-dev-us-east-1"
    assert r.resolve({"Fn::Sub": "${Queue.Arn}"}) == f"AWS::SQS::Queue/{PHYSICAL['Queue']}/Arn"
    assert r.resolve({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "StageName"}}]}) == "dev-x"
    assert r.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"


def test_conditions_choose_branches_and_resources() -> None:
    dev, prod = resolver("dev"), resolver("prod", "arn:aws:sns:us-east-1:1:alarms")
    choice = {"Fn::If": ["IsProd", "big", "small"]}
    assert (dev.resolve(choice), prod.resolve(choice)) == ("small", "big")
    assert (dev.condition("ProdWithAlarms"), prod.condition("ProdWithAlarms")) == (False, True)
    assert (dev.condition("ProdOrAlarms"), resolver("dev", "x").condition("ProdOrAlarms")) == (False, True)
    assert (dev.resource_enabled("Dashboard"), prod.resource_enabled("Dashboard")) == (False, True)
    assert dev.resource_enabled("Queue")
    with pytest.raises(LocalStackError, match="unknown condition Nope"):
        dev.condition("Nope")


def test_join_select_split() -> None:
    r = resolver()
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "StageName"}, 3, True]]}) == "a-dev-3-true"
    assert r.resolve({"Fn::Select": ["1", {"Ref": "Subnets"}]}) == "b"
    assert r.resolve({"Fn::Split": [",", "x,y"]}) == ["x", "y"]


def test_get_att_asks_once_per_attribute() -> None:
    calls: list[tuple[str, ...]] = []
    r = resolver(calls=calls)
    for _ in range(3):
        assert r.resolve({"Fn::GetAtt": ["Topic", "TopicName"]}) == f"AWS::SNS::Topic/{PHYSICAL['Topic']}/TopicName"
    assert r.resolve({"Fn::GetAtt": "Queue.Arn"}).endswith("/Arn")
    assert calls == [
        ("Topic", "AWS::SNS::Topic", PHYSICAL["Topic"], "TopicName"),
        ("Queue", "AWS::SQS::Queue", PHYSICAL["Queue"], "Arn"),
    ]


def test_what_cannot_be_resolved_is_named() -> None:
    r = resolver()
    with pytest.raises(LocalStackError, match="Fn::Base64 is not supported"):
        r.resolve({"Fn::Base64": "x"})
    with pytest.raises(LocalStackError, match="Ref Skipped: the resource was not created on moto"):
        r.resolve({"Ref": "Skipped"})
    with pytest.raises(LocalStackError, match="Ref Nope: no such parameter or resource"):
        r.resolve({"Ref": "Nope"})


def test_pseudo_parameters_follow_the_partition() -> None:
    cn = pseudo_parameters("cn-north-1", "1", "s", "id")
    assert (cn["AWS::Partition"], cn["AWS::URLSuffix"]) == ("aws-cn", "amazonaws.com.cn")
    assert pseudo_parameters("us-gov-west-1", "1", "s", "id")["AWS::Partition"] == "aws-us-gov"


def test_scalars_compare_as_cloudformation_strings() -> None:
    assert (scalar(True), scalar(5), scalar("x")) == ("true", "5", "x")
    assert as_bool("True") and as_bool(True) and not as_bool("false")

"""Offline checks of template.yaml: least-privilege IAM and pipeline wiring.

The SAM template is transformed to plain CloudFormation with
aws-sam-translator, locally (no AWS calls, no credentials), the way
CloudFormation's AWS::Serverless transform would. The IAM checks run on the
transformed template, so anything SAM would add (implicit roles, policy
templates, managed policies) is seen too.

Run: deploy/validate-template.sh (or `pytest deploy/` in the lint venv).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent

# Offline load + SAM transform, shared with deploy/local_stack.py.
from sam_offline import TEMPLATE, load_sam, to_cloudformation  # noqa: E402,F401
from sam_offline import NoManagedPolicies as _NoManagedPolicies  # noqa: E402

PLUGINS = {"Fn::Sub": "arn:${AWS::Partition}:s3:::${PluginBucket}/plugins/*"}

# Every (action, resource) pair each function role may hold - no more, no less.
# Resources are written as they appear in the (transformed) template.
ALLOWED: dict[str, set[tuple[str, str]]] = {}


def _canon(value: Any) -> str:
    """A hashable, order-independent spelling of a resource (string or intrinsic)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


ALLOWED["ProducerRole"] = {
    ("sns:Publish", _canon({"Ref": "HighValueOrderTopic"})),
    ("s3:GetObject", _canon(PLUGINS)),
    ("s3:PutObject", _canon({"Fn::Sub": "arn:${AWS::Partition}:s3:::${DecisionLogBucket}/decisions/*"})),
    ("logs:CreateLogStream", _canon({"Fn::GetAtt": ["ProducerLogGroup", "Arn"]})),
    ("logs:PutLogEvents", _canon({"Fn::GetAtt": ["ProducerLogGroup", "Arn"]})),
}
ALLOWED["ConsumerRole"] = {
    ("sqs:ReceiveMessage", _canon({"Fn::GetAtt": ["HighValueQueue", "Arn"]})),
    ("sqs:DeleteMessage", _canon({"Fn::GetAtt": ["HighValueQueue", "Arn"]})),
    ("sqs:GetQueueAttributes", _canon({"Fn::GetAtt": ["HighValueQueue", "Arn"]})),
    ("sqs:SendMessage", _canon({"Fn::GetAtt": ["HighValueDLQ", "Arn"]})),
    ("dynamodb:BatchWriteItem", _canon({"Fn::GetAtt": ["OrdersTable", "Arn"]})),
    ("s3:GetObject", _canon(PLUGINS)),
    ("logs:CreateLogStream", _canon({"Fn::GetAtt": ["ConsumerLogGroup", "Arn"]})),
    ("logs:PutLogEvents", _canon({"Fn::GetAtt": ["ConsumerLogGroup", "Arn"]})),
}

# Which role each function must run as.
FUNCTION_ROLES = {"ProducerFunction": "ProducerRole", "ConsumerFunction": "ConsumerRole"}

ENV_VARS = {
    "ProducerFunction": {
        "ORDERFLOW_TOPIC_ARN",
        "ORDERFLOW_PLUGIN_BUCKET",
        "ORDERFLOW_MANIFEST_KEY",
        "ORDERFLOW_REFRESH_SECONDS",
        "ORDERFLOW_DECISION_LOG_BUCKET",
        "ORDERFLOW_MANIFEST_PUBLIC_KEY",
        "RUST_LOG",
    },
    "ConsumerFunction": {
        "ORDERFLOW_TABLE_NAME",
        "ORDERFLOW_DLQ_URL",
        "ORDERFLOW_PLUGIN_BUCKET",
        "ORDERFLOW_MANIFEST_KEY",
        "ORDERFLOW_REFRESH_SECONDS",
        "ORDERFLOW_MANIFEST_PUBLIC_KEY",
        "RUST_LOG",
    },
}


# --------------------------------------------------------------------------- loading


# load_sam, _NoManagedPolicies and to_cloudformation live in sam_offline.py.


# --------------------------------------------------------------------------- the IAM checker


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_lambda_only_trust(doc: Any) -> list[str]:
    problems = []
    statements = _as_list((doc or {}).get("Statement"))
    if not statements:
        problems.append("has no trust policy statements")
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        other_keys = set(principal) - {"Service"} if isinstance(principal, dict) else {"*"}
        if services != ["lambda.amazonaws.com"] or other_keys:
            problems.append(f"is assumable by {json.dumps(principal, sort_keys=True)}, not only lambda.amazonaws.com")
        actions = _as_list(st.get("Action"))
        if actions != ["sts:AssumeRole"]:
            problems.append(f"trust policy allows {actions}, expected only sts:AssumeRole")
    return problems


def role_policy_violations(
    cfn: dict[str, Any], allowed: dict[str, set[tuple[str, str]]] = ALLOWED
) -> list[str]:
    """Every way the template's IAM differs from `allowed`; [] means compliant.

    Checks every AWS::IAM::Role: no managed policies, trust only for
    lambda.amazonaws.com, no NotAction/NotResource, no wildcard actions, no
    Resource "*", and the exact (action, resource) set of its inline policies.
    Stand-alone policy resources that could attach more permissions are
    reported too.
    """
    violations: list[str] = []
    resources = cfn.get("Resources", {})
    seen_roles = set()

    for logical_id, res in resources.items():
        rtype = res.get("Type")
        if rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            violations.append(f"{logical_id}: stand-alone {rtype} is not allowed (inline role policies only)")
            continue
        if rtype != "AWS::IAM::Role":
            continue
        seen_roles.add(logical_id)
        props = res.get("Properties", {})
        if logical_id not in allowed:
            # Still inspected below, against an empty allowance, so the report
            # says what the unexpected role would grant.
            violations.append(f"{logical_id}: role not in the ALLOWED table")
        expected = allowed.get(logical_id, set())
        if props.get("ManagedPolicyArns"):
            violations.append(f"{logical_id}: has ManagedPolicyArns {props['ManagedPolicyArns']}")
        for problem in _is_lambda_only_trust(props.get("AssumeRolePolicyDocument")):
            violations.append(f"{logical_id}: {problem}")

        granted: set[tuple[str, str]] = set()
        for policy in _as_list(props.get("Policies")):
            name = policy.get("PolicyName")
            for st in _as_list(policy.get("PolicyDocument", {}).get("Statement")):
                for key in ("NotAction", "NotResource", "NotPrincipal"):
                    if key in st:
                        violations.append(f"{logical_id}/{name}: uses {key}")
                if st.get("Effect") != "Allow":
                    continue
                actions = _as_list(st.get("Action"))
                resources_ = _as_list(st.get("Resource"))
                for action in actions:
                    if not isinstance(action, str) or "*" in action or "?" in action:
                        violations.append(f"{logical_id}/{name}: wildcard action {action!r}")
                for resource in resources_:
                    if resource == "*":
                        violations.append(f"{logical_id}/{name}: Resource '*' for actions {actions}")
                for action in actions:
                    for resource in resources_:
                        granted.add((action, _canon(resource)))

        for action, resource in sorted(granted - expected):
            violations.append(f"{logical_id}: grants {action} on {resource}, which is not in ALLOWED")
        for action, resource in sorted(expected - granted):
            violations.append(f"{logical_id}: lacks {action} on {resource} listed in ALLOWED")

    for missing in sorted(set(allowed) - seen_roles):
        violations.append(f"{missing}: role from the ALLOWED table is missing")
    return violations


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return to_cloudformation(sam)


def _res(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    assert logical_id in template["Resources"], f"{logical_id} missing"
    return template["Resources"][logical_id]


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return _res(template, logical_id).get("Properties", {})


# --------------------------------------------------------------------------- IAM


def test_transform_needs_no_managed_policies(sam: dict[str, Any]) -> None:
    loader = _NoManagedPolicies()
    to_cloudformation(sam, loader)
    assert loader.calls == 0, "SAM looked up managed policies: a function uses `Policies` instead of its own Role"


def test_real_template_roles_are_exactly_allowed(cfn: dict[str, Any]) -> None:
    assert role_policy_violations(cfn) == []


def test_only_the_two_function_roles_exist(cfn: dict[str, Any]) -> None:
    roles = {k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert roles == set(ALLOWED)


def test_each_function_runs_as_its_own_role(cfn: dict[str, Any]) -> None:
    for function, role in FUNCTION_ROLES.items():
        res = _res(cfn, function)
        assert res["Type"] == "AWS::Lambda::Function"
        assert res["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}


def _add_producer_statement(sam: dict[str, Any], statement: dict[str, Any]) -> None:
    role = sam["Resources"]["ProducerRole"]["Properties"]
    role["Policies"][0]["PolicyDocument"]["Statement"].append(statement)


def _widen_dynamodb_star(sam: dict[str, Any]) -> None:
    _add_producer_statement(sam, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})


def _widen_resource_star(sam: dict[str, Any]) -> None:
    _add_producer_statement(sam, {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})


def _widen_extra_action(sam: dict[str, Any]) -> None:
    _add_producer_statement(
        sam, {"Effect": "Allow", "Action": "s3:PutObject", "Resource": PLUGINS}
    )


def _widen_managed_policy(sam: dict[str, Any]) -> None:
    sam["Resources"]["ProducerRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ]


def _widen_trust(sam: dict[str, Any]) -> None:
    trust = sam["Resources"]["ProducerRole"]["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Principal"] = {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}


def _widen_not_action(sam: dict[str, Any]) -> None:
    _add_producer_statement(sam, {"Effect": "Allow", "NotAction": "iam:*", "Resource": PLUGINS})


def _widen_sam_policies(sam: dict[str, Any]) -> None:
    # Drop the explicit Role and use a SAM policy template instead: SAM then
    # generates an implicit role with a managed policy and a broad inline one.
    fn = sam["Resources"]["ProducerFunction"]["Properties"]
    del fn["Role"]
    fn["Policies"] = [{"DynamoDBCrudPolicy": {"TableName": {"Ref": "OrdersTable"}}}]


@pytest.mark.parametrize(
    ("widen", "must_mention"),
    [
        (_widen_dynamodb_star, ["ProducerRole", "dynamodb:*"]),
        (_widen_resource_star, ["ProducerRole", "Resource '*'", "sns:Publish"]),
        (_widen_extra_action, ["ProducerRole", "s3:PutObject"]),
        (_widen_managed_policy, ["ProducerRole", "ManagedPolicyArns"]),
        (_widen_trust, ["ProducerRole", "ec2.amazonaws.com"]),
        (_widen_not_action, ["ProducerRole", "NotAction"]),
        (_widen_sam_policies, ["ProducerFunctionRole", "ManagedPolicyArns"]),
    ],
    ids=["dynamodb-star", "resource-star", "extra-action", "managed-policy", "trust", "not-action", "sam-policies"],
)
def test_checker_reports_widened_policy(sam: dict[str, Any], widen: Any, must_mention: list[str]) -> None:
    widened = copy.deepcopy(sam)
    widen(widened)
    violations = role_policy_violations(to_cloudformation(widened))
    assert violations, "a widened template passed the IAM checker"
    assert any(all(word in v for word in must_mention) for v in violations), violations


def test_checker_reports_missing_permission(sam: dict[str, Any]) -> None:
    narrowed = copy.deepcopy(sam)
    statements = narrowed["Resources"]["ConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    narrowed["Resources"]["ConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] = [
        s for s in statements if s.get("Sid") != "WriteOrders"
    ]
    violations = role_policy_violations(to_cloudformation(narrowed))
    assert any("ConsumerRole" in v and "dynamodb:BatchWriteItem" in v and "lacks" in v for v in violations), violations


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize("function", sorted(FUNCTION_ROLES))
def test_function_runtime_build_and_env(sam: dict[str, Any], function: str) -> None:
    res = _res(sam, function)
    props = res["Properties"]
    assert res["Type"] == "AWS::Serverless::Function"
    assert res["Metadata"]["BuildMethod"] == "rust-cargolambda"
    crate = "orderflow-" + function.removesuffix("Function").lower()
    assert res["Metadata"]["BuildProperties"]["Binary"] == crate
    assert props["Runtime"] == "provided.al2023"
    assert props["Handler"] == "bootstrap"
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert props["CodeUri"] == "./functions/" + function.removesuffix("Function").lower()
    assert set(props["Environment"]["Variables"]) == ENV_VARS[function]
    assert props["Environment"]["Variables"]["ORDERFLOW_MANIFEST_KEY"] == {"Ref": "ManifestKey"}
    # Both functions verify the same signer's manifests, or neither does.
    assert props["Environment"]["Variables"]["ORDERFLOW_MANIFEST_PUBLIC_KEY"] == {"Ref": "ManifestPublicKey"}


def test_architecture_parameter(sam: dict[str, Any]) -> None:
    param = sam["Parameters"]["Architecture"]
    assert param["Default"] == "arm64"
    assert sorted(param["AllowedValues"]) == ["arm64", "x86_64"]


def test_manifest_key_must_stay_under_plugins_prefix(sam: dict[str, Any]) -> None:
    param = sam["Parameters"]["ManifestKey"]
    assert param["Default"] == "plugins/manifest.json"
    assert param["AllowedPattern"].startswith("^plugins/")


@pytest.mark.parametrize(("function", "log_group"), [("ProducerFunction", "ProducerLogGroup"), ("ConsumerFunction", "ConsumerLogGroup")])
def test_function_logs_to_its_own_json_log_group(sam: dict[str, Any], function: str, log_group: str) -> None:
    props = _props(sam, function)
    assert props["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group}}
    group = _props(sam, log_group)
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # /aws/lambda/<function name>, built from the same Sub string.
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + props["FunctionName"]["Fn::Sub"]}


def test_consumer_sqs_event(cfn: dict[str, Any]) -> None:
    mappings = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 1
    esm = mappings[0]["Properties"]
    assert esm["FunctionName"] == {"Ref": "ConsumerFunction"}
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["HighValueQueue", "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Fills 4 BatchWriteItems of 25; the local stack's mapping uses the same size.
    assert esm["BatchSize"] == 100
    local = (ROOT / "aws/local-stack/src/stack.rs").read_text()
    assert f"CONSUMER_BATCH_SIZE: i32 = {esm['BatchSize']};" in local
    # More than 10 records need a batching window.
    assert 1 <= esm["MaximumBatchingWindowInSeconds"] <= 300


def test_queue_visibility_covers_six_consumer_timeouts(sam: dict[str, Any]) -> None:
    timeout = _props(sam, "ConsumerFunction")["Timeout"]
    window = _props(sam, "ConsumerFunction")["Events"]["HighValueOrders"]["Properties"].get(
        "MaximumBatchingWindowInSeconds", 0
    )
    visibility = _props(sam, "HighValueQueue")["VisibilityTimeout"]
    assert visibility >= 6 * timeout, (visibility, timeout)
    # AWS guidance also adds the batching window on top.
    assert visibility >= 6 * timeout + window, (visibility, timeout, window)


# --------------------------------------------------------------------------- messaging


def test_queue_redrive_to_dlq(sam: dict[str, Any]) -> None:
    redrive = _props(sam, "HighValueQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["HighValueDLQ", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert sam["Parameters"]["MaxReceiveCount"]["Default"] == 5
    dlq = _props(sam, "HighValueDLQ")
    assert dlq["MessageRetentionPeriod"] > _props(sam, "HighValueQueue")["MessageRetentionPeriod"]


@pytest.mark.parametrize("queue", ["HighValueQueue", "HighValueDLQ"])
def test_queues_encrypted(sam: dict[str, Any], queue: str) -> None:
    assert _props(sam, queue)["SqsManagedSseEnabled"] is True


def test_topic_encrypted(sam: dict[str, Any]) -> None:
    assert _props(sam, "HighValueOrderTopic")["KmsMasterKeyId"] == "alias/aws/sns"


def test_subscription_raw_delivery_to_queue(sam: dict[str, Any]) -> None:
    sub = _props(sam, "HighValueQueueSubscription")
    assert sub["Protocol"] == "sqs"
    assert sub["RawMessageDelivery"] is True
    assert sub["TopicArn"] == {"Ref": "HighValueOrderTopic"}
    assert sub["Endpoint"] == {"Fn::GetAtt": ["HighValueQueue", "Arn"]}


def test_queue_policy_allows_only_the_topic(sam: dict[str, Any]) -> None:
    policy = _props(sam, "HighValueQueuePolicy")
    assert policy["Queues"] == [{"Ref": "HighValueQueue"}]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert _as_list(allow["Action"]) == ["sqs:SendMessage"]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "HighValueOrderTopic"}}}


# --------------------------------------------------------------------------- storage


def test_orders_table(sam: dict[str, Any]) -> None:
    table = _props(sam, "OrdersTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "OrderId", "KeyType": "HASH"},
        {"AttributeName": "Timestamp", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        ("OrderId", "S"),
        ("Timestamp", "S"),
    }
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_plugin_bucket_hardening(sam: dict[str, Any]) -> None:
    bucket = _props(sam, "PluginBucket")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    pab = bucket["PublicAccessBlockConfiguration"]
    assert {k: pab.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")} == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules and rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256")


def test_plugin_bucket_denies_insecure_transport(sam: dict[str, Any]) -> None:
    policy = _props(sam, "PluginBucketPolicy")
    assert policy["Bucket"] == {"Ref": "PluginBucket"}
    denies = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert len(denies) == 1
    deny = denies[0]
    assert deny["Principal"] == "*"
    assert _as_list(deny["Action"]) == ["s3:*"]
    assert {_canon(r) for r in deny["Resource"]} == {
        _canon({"Fn::GetAtt": ["PluginBucket", "Arn"]}),
        _canon({"Fn::Sub": "${PluginBucket.Arn}/*"}),
    }


def test_decision_log_is_opt_in_encrypted_expiring_and_written_only_by_the_producer(sam: dict[str, Any]) -> None:
    assert sam["Parameters"]["DecisionLog"]["Default"] == "Disabled"
    env = _props(sam, "ProducerFunction")["Environment"]["Variables"]["ORDERFLOW_DECISION_LOG_BUCKET"]
    assert env == {"Fn::If": ["DecisionLogEnabled", {"Ref": "DecisionLogBucket"}, {"Ref": "AWS::NoValue"}]}
    assert "ORDERFLOW_DECISION_LOG_BUCKET" not in _props(sam, "ConsumerFunction")["Environment"]["Variables"]

    bucket = _props(sam, "DecisionLogBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("aws:kms", "AES256")
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "DecisionLogRetentionDays"}

    statements = {st["Sid"]: st for st in _props(sam, "DecisionLogBucketPolicy")["PolicyDocument"]["Statement"]}
    assert statements["DenyInsecureTransport"]["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False)
    only = statements["OnlyTheProducerWrites"]
    assert only["Effect"] == "Deny" and only["Principal"] == "*" and only["Action"] == "s3:PutObject"
    assert only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["ProducerRole", "Arn"]}}}
    # No role but the producer's may touch the bucket at all.
    for role, grants in ALLOWED.items():
        touches = [r for _, r in grants if "DecisionLogBucket" in r]
        assert bool(touches) == (role == "ProducerRole"), (role, touches)


def test_decision_log_failures_are_counted(sam: dict[str, Any]) -> None:
    metric = _props(sam, "DecisionLogFailuresMetric")
    assert metric["LogGroupName"] == {"Ref": "ProducerLogGroup"}
    assert metric["FilterPattern"] == '{ $.message = "decision log write failed" }'
    assert metric["MetricTransformations"][0]["MetricName"] == "DecisionLogFailures"


def test_shadow_disagreements_are_counted_and_alarmed_only_when_asked(sam: dict[str, Any]) -> None:
    metric = _props(sam, "ShadowDisagreementsMetric")
    assert metric["LogGroupName"] == {"Ref": "ProducerLogGroup"}
    assert metric["FilterPattern"] == '{ $.event = "shadow_disagreement" }'
    (transform,) = metric["MetricTransformations"]
    assert (transform["MetricName"], transform["MetricValue"]) == ("ShadowDisagreements", "1")
    assert sam["Parameters"]["ShadowAlarm"]["Default"] == "Disabled"
    alarm = sam["Resources"]["ShadowDisagreementsAlarm"]
    assert alarm["Condition"] == "ShadowAlarmEnabled"
    assert sam["Conditions"]["ShadowAlarmEnabled"] == {"Fn::Equals": [{"Ref": "ShadowAlarm"}, "Enabled"]}
    props = alarm["Properties"]
    assert props["MetricName"] == "ShadowDisagreements"
    assert props["Namespace"] == transform["MetricNamespace"]
    assert props["Threshold"] == {"Ref": "ShadowAlarmThreshold"}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"


# --------------------------------------------------------------------------- alarms, outputs, checkov


def _alarms(sam: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in sam["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]


def test_dlq_alarm(sam: dict[str, Any]) -> None:
    assert any(
        a["Namespace"] == "AWS/SQS"
        and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["HighValueDLQ", "QueueName"]}}]
        and a["Threshold"] == 0
        and a["ComparisonOperator"] == "GreaterThanThreshold"
        for a in _alarms(sam)
    )


@pytest.mark.parametrize("function", sorted(FUNCTION_ROLES))
def test_function_errors_alarm(sam: dict[str, Any], function: str) -> None:
    assert any(
        a["Namespace"] == "AWS/Lambda"
        and a["MetricName"] == "Errors"
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
        and a["Threshold"] == 0
        and a["ComparisonOperator"] == "GreaterThanThreshold"
        for a in _alarms(sam)
    )


def test_outputs(sam: dict[str, Any]) -> None:
    values = {_canon(o["Value"]) for o in sam["Outputs"].values()}
    for ref in (
        "HighValueOrderTopic",
        "HighValueQueue",
        "HighValueDLQ",
        "OrdersTable",
        "PluginBucket",
        "DecisionLogBucket",
        "ProducerFunction",
        "ConsumerFunction",
    ):
        assert _canon({"Ref": ref}) in values, ref


def test_checkov_skips_are_justified(sam: dict[str, Any]) -> None:
    for logical_id, res in sam["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV"), (logical_id, skip)
            assert len(skip.get("comment", "")) >= 40, f"{logical_id}: skip {skip['id']} needs a real reason"

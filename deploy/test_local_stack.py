"""The local stack (deploy/local_stack.py on moto_server) matches template.yaml.

A moto_server is started on a free 127.0.0.1 port (offline, no Docker, no
credentials), the stack is created from the transformed template, and the live
resources are compared with the template's values: what is tested locally is
what is deployed. Ends with end-to-end smoke tests through SNS -> SQS (-> DLQ).

Run: deploy/validate-template.sh (or `pytest deploy/test_local_stack.py` in the
lint venv, which provides moto_server).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

DEPLOY_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DEPLOY_DIR))

import local_stack  # noqa: E402
from local_stack import LocalStack  # noqa: E402
from localstack.resources import NOT_ON_MOTO  # noqa: E402


# --------------------------------------------------------------------------- fixtures


def _moto_server_bin() -> str:
    beside = Path(sys.executable).with_name("moto_server")  # the venv's own
    if beside.exists():
        return str(beside)
    found = shutil.which("moto_server")
    if not found:
        pytest.fail("moto_server not found: install moto[server] (deploy/requirements-lint.txt)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [_moto_server_bin(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {url}:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def stack(endpoint: str) -> LocalStack:
    lines: list[str] = []
    built = local_stack.build_local_stack(endpoint, log=lines.append)
    assert any("CREATE_COMPLETE" in line for line in lines), lines
    return built


def _props(stack: LocalStack, logical_id: str) -> dict[str, Any]:
    """A resource's properties from the deployed (transformed) template, intrinsics resolved."""
    return stack.resolver.resolve(stack.template["Resources"][logical_id].get("Properties", {}))


def _queue_attrs(stack: LocalStack, url: str) -> dict[str, str]:
    return stack.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# --------------------------------------------------------------------------- summary


def test_summary_is_what_the_rust_code_needs(stack: LocalStack) -> None:
    s = stack.summary
    assert list(s) == list(local_stack.SUMMARY_KEYS)
    assert s["topic_arn"] == stack.outputs["HighValueOrderTopicArn"]
    assert s["table_name"] == stack.outputs["OrdersTableName"] == "orderflow-local-orders"
    assert s["bucket"] == stack.outputs["PluginBucketName"] == stack.physical["PluginBucket"]
    assert s["producer_function"] == "orderflow-local-producer"
    assert s["consumer_function"] == "orderflow-local-consumer"
    assert s["manifest_key"] == stack.parameters["ManifestKey"]
    assert s["refresh_seconds"] == int(stack.parameters["RefreshSeconds"])
    assert s["decision_log_bucket"] is None  # DecisionLog defaults to Disabled
    for key, output in (("queue_url", "HighValueQueueUrl"), ("dlq_url", "HighValueDLQUrl")):
        # Served at the endpoint, same queue as the stack output.
        assert s[key].startswith(stack.endpoint + "/"), s[key]
        assert s[key].rsplit("/", 1)[1] == stack.outputs[output].rsplit("/", 1)[1]


def test_every_template_resource_exists_locally(stack: LocalStack) -> None:
    """Created by moto's CloudFormation, or skipped by it and applied by local_stack.py."""
    skipped = set(stack.report.skipped_resources)
    # Off by default: ShadowDisagreementsAlarm (ShadowAlarm=Enabled); on by
    # default: the audit trail's resources (AuditTrail=true).
    conditional = {
        k for k, v in stack.template["Resources"].items() if "Condition" in v and not stack.resolver.condition(v["Condition"])
    }
    assert set(stack.template["Resources"]) - conditional == set(stack.physical) | skipped
    for logical_id in skipped:
        rtype = stack.template["Resources"][logical_id]["Type"]
        assert rtype in local_stack.RESOURCE_APPLIERS or rtype in NOT_ON_MOTO, logical_id
        handled = stack.report.applied + stack.report.not_reproduced
        assert any(entry.startswith(logical_id + " ") for entry in handled), logical_id
    # The only whole resources left out on purpose: bucket policies with
    # Conditions (see test_plugin_bucket_policy_is_not_applied; the audit log
    # bucket's too), and the HTTP
    # API, which moto cannot create (its function permission is created).
    assert sorted(e.split(" ", 1)[0] for e in stack.report.not_reproduced if "(AWS::" in e) == [
        "AuditLogBucketPolicy",
        "DecisionLogBucketPolicy",
        "OrdersApi",
        "OrdersApiStage",
        "PluginBucketPolicy",
    ]
    assert "ProducerFunctionPostOrdersPermission" in stack.physical


# --------------------------------------------------------------------------- messaging


def test_subscription_is_raw_sqs_delivery_to_the_queue(stack: LocalStack) -> None:
    want = _props(stack, "HighValueQueueSubscription")
    queue_arn = _queue_attrs(stack, stack.summary["queue_url"])["QueueArn"]
    subs = stack.clients.sns.list_subscriptions_by_topic(TopicArn=stack.summary["topic_arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("sqs", queue_arn)]
    assert want["Protocol"] == "sqs" and want["Endpoint"] == queue_arn
    attrs = stack.clients.sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])["Attributes"]
    assert attrs["RawMessageDelivery"] == str(want["RawMessageDelivery"]).lower()


def test_queue_redrive_visibility_retention(stack: LocalStack) -> None:
    want = _props(stack, "HighValueQueue")
    attrs = _queue_attrs(stack, stack.summary["queue_url"])
    dlq_attrs = _queue_attrs(stack, stack.summary["dlq_url"])
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_attrs["QueueArn"] == want["RedrivePolicy"]["deadLetterTargetArn"]
    assert int(redrive["maxReceiveCount"]) == int(want["RedrivePolicy"]["maxReceiveCount"])
    assert int(attrs["VisibilityTimeout"]) == int(want["VisibilityTimeout"])
    assert int(attrs["MessageRetentionPeriod"]) == int(want["MessageRetentionPeriod"])
    assert int(dlq_attrs["MessageRetentionPeriod"]) == int(_props(stack, "HighValueDLQ")["MessageRetentionPeriod"])
    for a in (attrs, dlq_attrs):
        assert a["SqsManagedSseEnabled"] == "true"


def test_queue_policy_allows_only_the_topic(stack: LocalStack) -> None:
    attrs = _queue_attrs(stack, stack.summary["queue_url"])
    policy = json.loads(attrs["Policy"])
    assert policy == _props(stack, "HighValueQueuePolicy")["PolicyDocument"]
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allow["Action"] in ("sqs:SendMessage", ["sqs:SendMessage"])
    assert allow["Resource"] == attrs["QueueArn"]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": stack.summary["topic_arn"]}}
    dlq_policy = json.loads(_queue_attrs(stack, stack.summary["dlq_url"])["Policy"])
    assert dlq_policy == _props(stack, "HighValueDLQPolicy")["PolicyDocument"]


def test_topic_policy_is_the_templates(stack: LocalStack) -> None:
    """Applied as written (moto stores topic policies without enforcing them,
    so the smoke tests' publishes still go through)."""
    attrs = stack.clients.sns.get_topic_attributes(TopicArn=stack.summary["topic_arn"])["Attributes"]
    policy = json.loads(attrs["Policy"])
    assert policy == _props(stack, "HighValueOrderTopicPolicy")["PolicyDocument"]
    producer_role = stack.resolver.resolve({"Fn::GetAtt": ["ProducerRole", "Arn"]})
    assert producer_role.startswith("arn:aws:iam::") and ":role/" in producer_role
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"]) for s in allows] == [({"AWS": producer_role}, "sns:Publish")]


def test_event_source_mapping_from_template_but_disabled(stack: LocalStack) -> None:
    want = _props(stack, "ConsumerFunctionHighValueOrders")
    mappings = stack.clients.lambda_.list_event_source_mappings(FunctionName=stack.summary["consumer_function"])[
        "EventSourceMappings"
    ]
    assert len(mappings) == 1
    esm = mappings[0]
    assert esm["EventSourceArn"] == want["EventSourceArn"]
    assert esm["BatchSize"] == want["BatchSize"]
    assert esm["FunctionResponseTypes"] == want["FunctionResponseTypes"]
    # moto would try to run the placeholder code in Docker for every message.
    assert esm["State"] == "Disabled"


# --------------------------------------------------------------------------- storage


def test_table_keys_and_point_in_time_recovery(stack: LocalStack) -> None:
    want = _props(stack, "OrdersTable")
    ddb = stack.clients.dynamodb
    table = ddb.describe_table(TableName=stack.summary["table_name"])["Table"]
    assert table["KeySchema"] == want["KeySchema"] == [
        {"AttributeName": "OrderId", "KeyType": "HASH"},
        {"AttributeName": "Timestamp", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == want["BillingMode"]
    assert want["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    backups = ddb.describe_continuous_backups(TableName=stack.summary["table_name"])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_plugin_bucket_versioning_and_public_access_block(stack: LocalStack) -> None:
    want = _props(stack, "PluginBucket")
    s3, bucket = stack.clients.s3, stack.summary["bucket"]
    assert want["VersioningConfiguration"]["Status"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == want["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"] == want["OwnershipControls"]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rules[0]["BucketKeyEnabled"] is True
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in lifecycle] == [r["Id"] for r in want["LifecycleConfiguration"]["Rules"]]


def test_plugin_bucket_policy_is_not_applied(stack: LocalStack) -> None:
    """moto ignores policy Conditions: DenyInsecureTransport would deny every request."""
    policy = _props(stack, "PluginBucketPolicy")["PolicyDocument"]
    assert all("Condition" in st for st in policy["Statement"])
    with pytest.raises(stack.clients.s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        stack.clients.s3.get_bucket_policy(Bucket=stack.summary["bucket"])


def test_plugin_bucket_is_usable(stack: LocalStack) -> None:
    """The local code can read and write the plugin bucket (nothing locks it out)."""
    s3, bucket, key = stack.clients.s3, stack.summary["bucket"], stack.summary["manifest_key"]
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"plugins": []}')
    obj = s3.get_object(Bucket=bucket, Key=key)
    assert obj["Body"].read() == b'{"plugins": []}'
    assert obj.get("VersionId") not in (None, "null")  # versioning is on
    s3.delete_object(Bucket=bucket, Key=key)


# --------------------------------------------------------------------------- functions, logs, alarms


@pytest.mark.parametrize(("function", "role", "key"), [
    ("ProducerFunction", "ProducerRole", "producer_function"),
    ("ConsumerFunction", "ConsumerRole", "consumer_function"),
])
def test_function_configuration(stack: LocalStack, function: str, role: str, key: str) -> None:
    want = _props(stack, function)
    cfg = stack.clients.lambda_.get_function_configuration(FunctionName=stack.summary[key])
    assert cfg["FunctionName"] == want["FunctionName"]
    assert cfg["Role"] == stack.resolver.get_att(role, "Arn")
    for prop in ("Runtime", "Handler", "MemorySize", "Timeout"):
        assert cfg[prop] == want[prop], prop
    # moto keeps Number parameters as numbers; Lambda would hand out strings.
    live_env = {k: str(v) for k, v in cfg["Environment"]["Variables"].items()}
    assert live_env == {k: str(v) for k, v in want["Environment"]["Variables"].items()}


def test_log_groups_and_alarms(stack: LocalStack) -> None:
    logs = stack.clients.logs
    for group in ("ProducerLogGroup", "ConsumerLogGroup"):
        want = _props(stack, group)
        found = logs.describe_log_groups(logGroupNamePrefix=want["LogGroupName"])["logGroups"]
        assert [(g["logGroupName"], g.get("retentionInDays")) for g in found] == [
            (want["LogGroupName"], int(want["RetentionInDays"]))
        ]
    # A conditional alarm (ShadowDisagreementsAlarm: ShadowAlarm=Enabled) is not created by default.
    alarm_ids = [
        k
        for k, v in stack.template["Resources"].items()
        if v["Type"] == "AWS::CloudWatch::Alarm" and "Condition" not in v
    ]
    names = [_props(stack, k)["AlarmName"] for k in alarm_ids]
    alarms = stack.clients.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(names)
    dlq_alarm = next(a for a in alarms if a["AlarmName"] == _props(stack, "HighValueDLQNotEmptyAlarm")["AlarmName"])
    dlq_name = stack.summary["dlq_url"].rsplit("/", 1)[1]
    assert dlq_alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq_name}]
    assert "AlarmActions" not in dlq_alarm or dlq_alarm["AlarmActions"] == []  # AlarmTopicArn is empty

    want = _props(stack, "ProducerFailedOrdersMetric")
    filters = logs.describe_metric_filters(logGroupName=want["LogGroupName"])["metricFilters"]
    assert sorted((f["filterPattern"], f["metricTransformations"][0]["metricName"]) for f in filters) == sorted([
        (want["FilterPattern"], "OrdersFailed"),
        (_props(stack, "DecisionLogFailuresMetric")["FilterPattern"], "DecisionLogFailures"),
        (_props(stack, "ShadowDisagreementsMetric")["FilterPattern"], "ShadowDisagreements"),
    ])
    failed_alarm = next(a for a in alarms if a["MetricName"] == "OrdersFailed")
    assert failed_alarm["Namespace"] == want["MetricTransformations"][0]["MetricNamespace"]


# --------------------------------------------------------------------------- end to end


def _receive(stack: LocalStack, url: str, marker: str, timeout: float = 10, **kwargs: Any) -> list[dict[str, Any]]:
    """Messages whose body contains marker; polls (1 s long polls) up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        messages = stack.clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"], **kwargs
        ).get("Messages", [])
        mine = [m for m in messages if marker in m["Body"]]
        if mine or time.monotonic() > deadline:
            return mine


def test_published_order_arrives_raw_on_the_queue(stack: LocalStack) -> None:
    order = {"OrderId": f"smoke-{uuid.uuid4()}", "Timestamp": "2024-01-01T00:00:00Z", "Amount": 12345}
    body = json.dumps(order)
    stack.clients.sns.publish(TopicArn=stack.summary["topic_arn"], Message=body)
    messages = _receive(stack, stack.summary["queue_url"], order["OrderId"])
    assert len(messages) == 1
    # RawMessageDelivery: the SQS body is the order itself, no SNS envelope.
    assert messages[0]["Body"] == body
    assert json.loads(messages[0]["Body"]) == order
    stack.clients.sqs.delete_message(QueueUrl=stack.summary["queue_url"], ReceiptHandle=messages[0]["ReceiptHandle"])


def test_undeliverable_order_is_dead_lettered_after_max_receive_count(stack: LocalStack) -> None:
    max_receive = int(_props(stack, "HighValueQueue")["RedrivePolicy"]["maxReceiveCount"])
    marker = f"redrive-{uuid.uuid4()}"
    stack.clients.sns.publish(TopicArn=stack.summary["topic_arn"], Message=json.dumps({"OrderId": marker}))
    for attempt in range(1, max_receive + 1):
        # VisibilityTimeout=0: as if the consumer failed and the message came back at once.
        messages = _receive(stack, stack.summary["queue_url"], marker, VisibilityTimeout=0)
        assert len(messages) == 1, attempt
        assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) == attempt
    # One receive more: SQS moves it to the DLQ instead of delivering it again.
    assert _receive(stack, stack.summary["queue_url"], marker, timeout=0, VisibilityTimeout=0) == []
    dead = _receive(stack, stack.summary["dlq_url"], marker)
    assert len(dead) == 1
    stack.clients.sqs.delete_message(QueueUrl=stack.summary["dlq_url"], ReceiptHandle=dead[0]["ReceiptHandle"])


# --------------------------------------------------------------------------- CLI, parameters


def _run_cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # dummy credentials path
    return subprocess.run(
        [sys.executable, str(DEPLOY_DIR / "local_stack.py"), "--endpoint", endpoint, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_cli_prints_the_summary_and_is_rerunnable(endpoint: str, stack: LocalStack) -> None:
    args = ("--stack-name", "orderflow-cli", "--region", "us-east-1", "-p", "StageName=cli")
    first = _run_cli(endpoint, *args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert list(summary) == list(local_stack.SUMMARY_KEYS)
    assert summary["table_name"] == "orderflow-cli-orders"
    assert summary["consumer_function"] == "orderflow-cli-consumer"
    assert summary["topic_arn"].endswith(":orderflow-cli-high-value-orders")
    assert "CREATE_COMPLETE" in first.stderr
    assert "HighValueQueueSubscription" in first.stderr

    again = _run_cli(endpoint, *args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == summary
    assert "applied 0 item(s)" in again.stderr

    clash = _run_cli(endpoint, "--stack-name", "orderflow-cli", "-p", "StageName=other")
    assert clash.returncode == 1 and "other parameters" in clash.stderr and clash.stdout == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"StageName": "Bad_Stage"}, "does not match"),
        ({"NoSuchParameter": "x"}, "unknown parameter"),
        ({"MaxReceiveCount": "0"}, "below MinValue"),
        ({"Architecture": "sparc"}, "is not one of"),
    ],
)
def test_parameter_overrides_are_checked_like_cloudformation(overrides: dict[str, str], message: str) -> None:
    cfn = local_stack.transformed_template("unused")
    with pytest.raises(local_stack.LocalStackError, match=message):
        local_stack.resolve_parameters(cfn, overrides)


# --------------------------------------------------------------------------- audit trail


def test_the_audit_trail_records_writes_under_plugins_and_the_rule_feeds_the_topic(stack: LocalStack) -> None:
    """As the template says (AuditTrail=true). moto delivers no data events to
    EventBridge, so what the rule would send is checked offline
    (deploy/test_audit_trail.py)."""
    ct, events, sns = stack.clients.cloudtrail, stack.clients.events, stack.clients.sns
    want = _props(stack, "PluginWritesTrail")
    [trail] = [t for t in ct.describe_trails()["trailList"] if t["Name"] == want["TrailName"]]
    assert trail["S3BucketName"] == stack.physical["AuditLogBucket"]
    assert trail["LogFileValidationEnabled"] is True
    assert ct.get_trail_status(Name=want["TrailName"])["IsLogging"] is True
    selectors = ct.get_event_selectors(TrailName=want["TrailName"])["AdvancedEventSelectors"]
    assert selectors == want["AdvancedEventSelectors"]
    assert selectors[0]["FieldSelectors"][2]["StartsWith"] == [f"arn:aws:s3:::{stack.summary['bucket']}/plugins/"]

    topic = stack.physical["ManifestChangesTopic"]
    for logical_id in ("ManifestWrittenRule", "PluginObjectsBatchDeletedRule"):
        rule = _props(stack, logical_id)
        live = events.describe_rule(Name=rule["Name"])
        assert json.loads(live["EventPattern"]) == rule["EventPattern"]
        assert json.loads(live["EventPattern"])["detail"]["requestParameters"]["bucketName"] == [stack.summary["bucket"]]
        [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == topic
    manifest_rule = _props(stack, "ManifestWrittenRule")["EventPattern"]
    assert manifest_rule["detail"]["requestParameters"]["key"] == [stack.summary["manifest_key"]]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == _props(stack, "ManifestChangesTopic")["KmsMasterKeyId"]
    policy = json.loads(attributes["Policy"])
    assert policy == _props(stack, "ManifestChangesTopicPolicy")["PolicyDocument"]

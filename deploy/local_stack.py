#!/usr/bin/env python3
"""Create orderflow's local stack on a moto server, from template.yaml itself.

What is tested locally is what is deployed: the resources are not hand-made
with create_queue/create_table calls but created by moto's CloudFormation from
the same template `sam deploy` uses:

1. template.yaml is parsed and transformed SAM -> CloudFormation offline
   (deploy/sam_offline.py, shared with test_template_policies.py). The
   functions' CodeUri points at a tiny placeholder zip uploaded to a code
   bucket in moto (moto creates functions without Docker; only invoking one
   would need Docker, and the placeholder is not a runnable function).
2. cloudformation.create_stack on moto, with parameter overrides (default
   StageName=local), waiting for CREATE_COMPLETE.
3. moto's CloudFormation silently drops some resources and properties. Each
   gap is filled FROM THE SAME TRANSFORMED TEMPLATE (intrinsics resolved to
   the created physical ids) through the normal service APIs, and only after
   reading back the live state, so nothing moto did apply is applied again.
   Measured with moto 5.2: skipped resources AWS::SNS::Subscription,
   AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm;
   skipped properties S3 VersioningConfiguration, PublicAccessBlockConfiguration,
   OwnershipControls, LifecycleConfiguration, BucketEncryption.BucketKeyEnabled,
   DynamoDB PointInTimeRecoverySpecification, Lambda Tags. What moto cannot
   reproduce is reported on stderr as "not reproduced": Lambda Architectures
   and LoggingConfig, DynamoDB SSESpecification (no API changes them on moto),
   and the bucket policy: moto enforces bucket policies but ignores their
   Conditions, so the template's DenyInsecureTransport would deny every request.
   The SQS event source mapping is created but then disabled: an enabled
   mapping makes moto try to invoke the placeholder function in Docker for
   every message, which fails and bumps the messages' receive count towards
   the DLQ. Locally the consumer polls the queue itself.
4. Prints (CLI) / returns (create_local_stack) what the Rust code needs:
   {"topic_arn", "queue_url", "dlq_url", "table_name", "bucket",
    "manifest_key", "refresh_seconds", "producer_function", "consumer_function"}
   from the stack's Outputs and its functions' environment. Queue URLs are
   the ones moto serves at the endpoint (same queues as the Outputs).

CLI:
  python deploy/local_stack.py --endpoint http://127.0.0.1:5000 \
      [--stack-name orderflow-local] [--region us-east-1] [-p KEY=VALUE ...]
JSON on stdout, progress on stderr. Running it again against the same server
and stack name reuses the stack (same parameters required) and re-checks it.
Dummy credentials (testing/testing) are used when none are set.

Needs the lint venv (deploy/.venv/lint: aws-sam-translator, boto3, moto[server]).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sam_offline import TEMPLATE, load_sam, to_cloudformation  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

DEFAULT_STACK_NAME = "orderflow-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_PARAMETERS = {"StageName": "local"}
CODE_KEY = "placeholder/bootstrap.zip"

# JSON key -> stack Output holding it.
OUTPUT_KEYS = {
    "topic_arn": "HighValueOrderTopicArn",
    "queue_url": "HighValueQueueUrl",
    "dlq_url": "HighValueDLQUrl",
    "table_name": "OrdersTableName",
    "bucket": "PluginBucketName",
    "producer_function": "ProducerFunctionName",
    "consumer_function": "ConsumerFunctionName",
}
# JSON key -> environment variable of the functions holding it (both must agree).
ENV_KEYS = {"manifest_key": "ORDERFLOW_MANIFEST_KEY", "refresh_seconds": "ORDERFLOW_REFRESH_SECONDS"}
SUMMARY_KEYS = (
    "topic_arn",
    "queue_url",
    "dlq_url",
    "table_name",
    "bucket",
    "manifest_key",
    "refresh_seconds",
    "producer_function",
    "consumer_function",
)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"local-stack: {msg}", file=sys.stderr, flush=True)


class LocalStackError(RuntimeError):
    pass


# --------------------------------------------------------------------------- clients


def make_session(region: str) -> boto3.Session:
    """A session that never needs real credentials (moto accepts any)."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return boto3.Session(region_name=region)
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)


class Clients:
    """Lazily created boto3 clients, all pointed at the moto endpoint."""

    def __init__(self, endpoint: str, region: str, session: Optional[boto3.Session] = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.session = session or make_session(region)
        self._cache: dict[str, Any] = {}
        self._config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=60,
        )

    @property
    def lambda_(self) -> Any:
        return self.__getattr__("lambda")

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._cache:
            self._cache[service] = self.session.client(
                service, endpoint_url=self.endpoint, region_name=self.region, config=self._config
            )
        return self._cache[service]


def wait_for_endpoint(endpoint: str, timeout: float = 30.0) -> None:
    """Wait until something answers HTTP at the endpoint (any status counts)."""
    deadline = time.monotonic() + timeout
    url = endpoint.rstrip("/") + "/moto-api/"
    last: Exception | None = None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise LocalStackError(f"nothing answers at {endpoint} after {timeout:.0f}s: {last}")
        time.sleep(0.2)


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# --------------------------------------------------------------------------- template


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


# --------------------------------------------------------------------------- intrinsics

NO_VALUE = object()  # AWS::NoValue


class Resolver:
    """Resolves CloudFormation intrinsics against the stack moto created."""

    def __init__(
        self,
        cfn: dict[str, Any],
        parameters: dict[str, Any],
        physical: dict[str, str],
        clients: Clients,
        stack_name: str,
        stack_id: str,
        account_id: str,
    ) -> None:
        self.cfn = cfn
        self.parameters = parameters
        self.physical = physical
        self.clients = clients
        region = clients.region
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        self.partition = partition
        self.account_id = account_id
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": partition,
            "AWS::StackName": stack_name,
            "AWS::StackId": stack_id,
            "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
        }
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
            return _scalar(a) == _scalar(b)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(x) for x in arg)
        if key == "Fn::Or":
            return any(self.resolve(x) for x in arg)
        if key == "Fn::Join":
            sep, items = arg
            return self.resolve(sep).join(str(_scalar(x)) for x in self.resolve(items))
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
                return str(_scalar(variables[name]))
            if "." in name and name not in self.parameters and name not in self.pseudo:
                logical_id, attr = name.split(".", 1)
                return str(self.get_att(logical_id, attr))
            return str(_scalar(self.ref(name)))

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
            self._atts[key] = self._lookup_att(logical_id, attr)
        return self._atts[key]

    def _lookup_att(self, logical_id: str, attr: str) -> Any:
        rtype = self.cfn["Resources"][logical_id]["Type"]
        pid = self.ref(logical_id)
        c = self.clients
        if rtype == "AWS::SQS::Queue":
            if attr == "Arn":
                return c.sqs.get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            if attr == "QueueName":
                return pid.rstrip("/").rsplit("/", 1)[1]
            if attr == "QueueUrl":
                return pid
        elif rtype == "AWS::SNS::Topic":
            if attr == "TopicArn":
                return pid
            if attr == "TopicName":
                return pid.rsplit(":", 1)[1]
        elif rtype == "AWS::DynamoDB::Table":
            table = c.dynamodb.describe_table(TableName=pid)["Table"]
            if attr == "Arn":
                return table["TableArn"]
            if attr == "StreamArn":
                return table["LatestStreamArn"]
        elif rtype == "AWS::S3::Bucket":
            if attr == "Arn":
                return f"arn:{self.partition}:s3:::{pid}"
            if attr == "DomainName":
                return f"{pid}.s3.{self.pseudo['AWS::URLSuffix']}"
            if attr == "RegionalDomainName":
                return f"{pid}.s3.{c.region}.{self.pseudo['AWS::URLSuffix']}"
        elif rtype == "AWS::Logs::LogGroup":
            if attr == "Arn":
                # CloudFormation's LogGroup Arn ends in ":*".
                return f"arn:{self.partition}:logs:{c.region}:{self.account_id}:log-group:{pid}:*"
        elif rtype == "AWS::IAM::Role":
            role = c.iam.get_role(RoleName=pid)["Role"]
            if attr == "Arn":
                return role["Arn"]
            if attr == "RoleId":
                return role["RoleId"]
        elif rtype == "AWS::Lambda::Function":
            if attr == "Arn":
                return c.lambda_.get_function_configuration(FunctionName=pid)["FunctionArn"]
        raise LocalStackError(f"Fn::GetAtt {logical_id}.{attr} ({rtype}) is not supported by deploy/local_stack.py")


def _scalar(value: Any) -> Any:
    """CloudFormation compares/joins scalars as strings; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _attr_string(value: Any) -> str:
    """An SNS/SQS attribute value: JSON for documents, true/false for booleans."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(_scalar(value))


# --------------------------------------------------------------------------- gap fillers


@dataclass
class Report:
    skipped_resources: list[str] = field(default_factory=list)  # logical ids moto's CloudFormation did not create
    applied: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_reproduced: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    clients: Clients
    resolver: Resolver
    report: Report
    stack_name: str
    log: Log

    def applied(self, what: str) -> None:
        self.report.applied.append(what)
        self.log(f"applied (moto skipped it): {what}")

    def already(self, what: str) -> None:
        self.report.already.append(what)

    def not_reproduced(self, what: str) -> None:
        self.report.not_reproduced.append(what)
        self.log(f"not reproduced on moto: {what}")


# ---- whole resources moto's CloudFormation does not create


def _apply_subscription(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    sns = ctx.clients.sns
    topic, protocol, endpoint = props["TopicArn"], props["Protocol"], props.get("Endpoint")
    ignored = {"TopicArn", "Protocol", "Endpoint", "Region"}
    attributes = {k: _attr_string(v) for k, v in props.items() if k not in ignored}
    existing = [
        s
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
        for s in page["Subscriptions"]
        if s["Protocol"] == protocol and s.get("Endpoint") == endpoint
    ]
    if not existing:
        arn = sns.subscribe(
            TopicArn=topic, Protocol=protocol, Endpoint=endpoint, Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        ctx.applied(f"{logical_id} (AWS::SNS::Subscription): sns.subscribe {protocol} {endpoint} {attributes}")
        return arn
    arn = existing[0]["SubscriptionArn"]
    live = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    for name, value in attributes.items():
        if _norm_attr(live.get(name)) != _norm_attr(value):
            sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=value)
            ctx.applied(f"{logical_id}: sns.set_subscription_attributes {name}={value}")
    ctx.already(f"{logical_id} (AWS::SNS::Subscription)")
    return arn


def _norm_attr(value: Optional[str]) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _apply_queue_policy(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    sqs = ctx.clients.sqs
    document = props["PolicyDocument"]
    for queue_url in props["Queues"]:
        live = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"]).get("Attributes", {})
        if _norm_attr(live.get("Policy")) == document:
            ctx.already(f"{logical_id} (AWS::SQS::QueuePolicy) on {queue_url}")
            continue
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(document)})
        ctx.applied(f"{logical_id} (AWS::SQS::QueuePolicy): sqs.set_queue_attributes Policy on {queue_url}")
    return None


def _apply_bucket_policy(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    s3 = ctx.clients.s3
    bucket, document = props["Bucket"], props["PolicyDocument"]
    conditional = [st.get("Sid", "?") for st in document.get("Statement", []) if "Condition" in st]
    if conditional:
        # moto enforces bucket policies but ignores their Conditions: the
        # template's DenyInsecureTransport (Deny s3:* to "*" when
        # aws:SecureTransport is false) would deny every request to the bucket.
        ctx.not_reproduced(
            f"{logical_id} (AWS::S3::BucketPolicy): statements {conditional} have Conditions, which moto "
            "ignores when it enforces bucket policies (a conditional Deny would lock the bucket); not applied"
        )
        return None
    try:
        if json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == document:
            ctx.already(f"{logical_id} (AWS::S3::BucketPolicy)")
            return None
    except ClientError as exc:
        if _error_code(exc) != "NoSuchBucketPolicy":
            raise
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    ctx.applied(f"{logical_id} (AWS::S3::BucketPolicy): s3.put_bucket_policy on {bucket}")
    return None


_ALARM_INTS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


def _apply_alarm(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    cw = ctx.clients.cloudwatch
    kwargs = dict(props)
    kwargs.setdefault("AlarmName", f"{ctx.stack_name}-{logical_id}")
    for key in _ALARM_INTS:
        if key in kwargs:
            kwargs[key] = int(kwargs[key])
    if "Threshold" in kwargs:
        kwargs["Threshold"] = float(kwargs["Threshold"])
    if "ActionsEnabled" in kwargs:
        kwargs["ActionsEnabled"] = _bool(kwargs["ActionsEnabled"])
    name = kwargs["AlarmName"]
    if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
        ctx.already(f"{logical_id} (AWS::CloudWatch::Alarm)")
        return name
    cw.put_metric_alarm(**kwargs)
    ctx.applied(f"{logical_id} (AWS::CloudWatch::Alarm): cloudwatch.put_metric_alarm {name}")
    return name


def _apply_metric_filter(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    logs = ctx.clients.logs
    group = props["LogGroupName"]
    name = props.get("FilterName", f"{ctx.stack_name}-{logical_id}")
    found = logs.describe_metric_filters(logGroupName=group, filterNamePrefix=name)["metricFilters"]
    if any(f["filterName"] == name for f in found):
        ctx.already(f"{logical_id} (AWS::Logs::MetricFilter)")
        return name
    transformations = [
        {k[0].lower() + k[1:]: v for k, v in t.items()} for t in props["MetricTransformations"]
    ]
    logs.put_metric_filter(logGroupName=group, filterName=name, filterPattern=props["FilterPattern"],
                           metricTransformations=transformations)
    ctx.applied(f"{logical_id} (AWS::Logs::MetricFilter): logs.put_metric_filter {name} on {group}")
    return name


# type -> applier(ctx, logical_id, resolved properties) -> physical id or None
RESOURCE_APPLIERS: dict[str, Callable[[Ctx, str, dict[str, Any]], Optional[str]]] = {
    "AWS::SNS::Subscription": _apply_subscription,
    "AWS::SQS::QueuePolicy": _apply_queue_policy,
    "AWS::S3::BucketPolicy": _apply_bucket_policy,
    "AWS::CloudWatch::Alarm": _apply_alarm,
    "AWS::Logs::MetricFilter": _apply_metric_filter,
}


# ---- properties moto's CloudFormation drops from resources it does create


def _bucket_gaps(ctx: Ctx, logical_id: str, bucket: str, props: dict[str, Any]) -> None:
    s3 = ctx.clients.s3

    def missing(getter: Callable[[], Any], absent_codes: tuple[str, ...]) -> Any:
        try:
            return getter()
        except ClientError as exc:
            if _error_code(exc) in absent_codes:
                return None
            raise

    if "VersioningConfiguration" in props:
        want = props["VersioningConfiguration"]["Status"]
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") == want:
            ctx.already(f"{logical_id}.VersioningConfiguration")
        else:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": want})
            ctx.applied(f"{logical_id}.VersioningConfiguration: s3.put_bucket_versioning Status={want}")

    if "PublicAccessBlockConfiguration" in props:
        keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        want = {k: _bool(props["PublicAccessBlockConfiguration"].get(k, False)) for k in keys}
        live = missing(
            lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
            ("NoSuchPublicAccessBlockConfiguration",),
        )
        if live is not None and {k: live.get(k, False) for k in keys} == want:
            ctx.already(f"{logical_id}.PublicAccessBlockConfiguration")
        else:
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=want)
            ctx.applied(f"{logical_id}.PublicAccessBlockConfiguration: s3.put_public_access_block {want}")

    if "OwnershipControls" in props:
        want = {"Rules": [{"ObjectOwnership": r["ObjectOwnership"]} for r in props["OwnershipControls"]["Rules"]]}
        live = missing(
            lambda: s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"],
            ("OwnershipControlsNotFoundError",),
        )
        if live == want:
            ctx.already(f"{logical_id}.OwnershipControls")
        else:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=want)
            ctx.applied(f"{logical_id}.OwnershipControls: s3.put_bucket_ownership_controls {want}")

    if "LifecycleConfiguration" in props:
        live = missing(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], ("NoSuchLifecycleConfiguration",)
        )
        if live:
            ctx.already(f"{logical_id}.LifecycleConfiguration")
        else:
            rules = [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
            ctx.applied(f"{logical_id}.LifecycleConfiguration: s3.put_bucket_lifecycle_configuration {rules}")

    if "BucketEncryption" in props:
        want = [
            {
                "ApplyServerSideEncryptionByDefault": dict(r["ServerSideEncryptionByDefault"]),
                "BucketKeyEnabled": _bool(r.get("BucketKeyEnabled", False)),
            }
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        live = missing(
            lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
            ("ServerSideEncryptionConfigurationNotFoundError",),
        )
        live_norm = [
            {
                "ApplyServerSideEncryptionByDefault": r.get("ApplyServerSideEncryptionByDefault", {}),
                "BucketKeyEnabled": bool(r.get("BucketKeyEnabled", False)),
            }
            for r in (live or [])
        ]
        if live_norm == want:
            ctx.already(f"{logical_id}.BucketEncryption")
        else:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": want})
            ctx.applied(f"{logical_id}.BucketEncryption: s3.put_bucket_encryption {want}")


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """An AWS::S3::Bucket lifecycle Rule in PutBucketLifecycleConfiguration's shape."""
    out: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    expiration: dict[str, Any] = {}
    for key, value in rule.items():
        if key == "Id":
            out["ID"] = value
        elif key in ("Status", "Prefix"):
            pass
        elif key == "ExpirationInDays":
            expiration["Days"] = int(value)
        elif key == "ExpirationDate":
            expiration["Date"] = value
        elif key == "ExpiredObjectDeleteMarker":
            expiration["ExpiredObjectDeleteMarker"] = _bool(value)
        elif key == "NoncurrentVersionExpiration":
            out["NoncurrentVersionExpiration"] = {k: int(v) for k, v in value.items()}
        elif key == "NoncurrentVersionExpirationInDays":
            out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(value)}
        elif key == "AbortIncompleteMultipartUpload":
            out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(value["DaysAfterInitiation"])}
        elif key == "Transitions":
            out["Transitions"] = [
                {
                    **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
                    **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {}),
                    "StorageClass": t["StorageClass"],
                }
                for t in value
            ]
        elif key == "NoncurrentVersionTransitions":
            out["NoncurrentVersionTransitions"] = [
                {
                    "NoncurrentDays": int(t["TransitionInDays"]),
                    "StorageClass": t["StorageClass"],
                    **({"NewerNoncurrentVersions": int(t["NewerNoncurrentVersions"])} if "NewerNoncurrentVersions" in t else {}),
                }
                for t in value
            ]
        else:
            raise LocalStackError(f"lifecycle rule property {key} is not supported by deploy/local_stack.py")
    if expiration:
        out["Expiration"] = expiration
    return out


def _table_gaps(ctx: Ctx, logical_id: str, table: str, props: dict[str, Any]) -> None:
    ddb = ctx.clients.dynamodb
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr is not None:
        want = _bool(pitr.get("PointInTimeRecoveryEnabled", False))
        live = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        status = live.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if (status == "ENABLED") == want:
            ctx.already(f"{logical_id}.PointInTimeRecoverySpecification")
        else:
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": want}
            if "RecoveryPeriodInDays" in pitr:
                spec["RecoveryPeriodInDays"] = int(pitr["RecoveryPeriodInDays"])
            ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification=spec)
            ctx.applied(f"{logical_id}.PointInTimeRecoverySpecification: dynamodb.update_continuous_backups {spec}")
    sse = props.get("SSESpecification")
    if sse is not None and _bool(sse.get("SSEEnabled", False)):
        live = ddb.describe_table(TableName=table)["Table"].get("SSEDescription", {})
        if live.get("Status") in ("ENABLED", "ENABLING"):
            ctx.already(f"{logical_id}.SSESpecification")
        else:
            ctx.not_reproduced(
                f"{logical_id}.SSESpecification (moto's CloudFormation drops it and its UpdateTable ignores SSE; "
                "encryption at rest is not observable by the code anyway)"
            )


def _function_gaps(ctx: Ctx, logical_id: str, name: str, props: dict[str, Any]) -> None:
    lam = ctx.clients.lambda_
    live = lam.get_function_configuration(FunctionName=name)
    if "Architectures" in props:
        if live.get("Architectures") == props["Architectures"]:
            ctx.already(f"{logical_id}.Architectures")
        else:
            ctx.not_reproduced(
                f"{logical_id}.Architectures={props['Architectures']} (moto made {live.get('Architectures')}; "
                "no API changes it after creation, and the placeholder code never runs)"
            )
    if "LoggingConfig" in props:
        if live.get("LoggingConfig", {}).get("LogFormat") == props["LoggingConfig"].get("LogFormat"):
            ctx.already(f"{logical_id}.LoggingConfig")
        else:
            ctx.not_reproduced(
                f"{logical_id}.LoggingConfig (moto's Lambda does not keep it; the log groups themselves exist)"
            )
    tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
    if tags:
        live_tags = lam.list_tags(Resource=live["FunctionArn"]).get("Tags", {})
        if all(live_tags.get(k) == v for k, v in tags.items()):
            ctx.already(f"{logical_id}.Tags")
        else:
            lam.tag_resource(Resource=live["FunctionArn"], Tags=tags)
            ctx.applied(f"{logical_id}.Tags: lambda.tag_resource {tags}")


def _event_source_mapping(ctx: Ctx, logical_id: str, uuid: str, props: dict[str, Any]) -> None:
    lam = ctx.clients.lambda_
    live = lam.get_event_source_mapping(UUID=uuid)
    ctx.report.deviations.append(
        f"{logical_id}: event source mapping created from the template, then disabled "
        "(moto would invoke the placeholder function in Docker for every message)"
    )
    if live.get("State") not in ("Disabled", "Disabling"):
        lam.update_event_source_mapping(UUID=uuid, Enabled=False)
        ctx.log(f"disabled {logical_id} (moto cannot run the functions; poll the queue instead)")


# type -> fixer(ctx, logical_id, physical id, resolved properties)
PROPERTY_FIXERS: dict[str, Callable[[Ctx, str, str, dict[str, Any]], None]] = {
    "AWS::S3::Bucket": _bucket_gaps,
    "AWS::DynamoDB::Table": _table_gaps,
    "AWS::Lambda::Function": _function_gaps,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
}


# --------------------------------------------------------------------------- the stack


@dataclass
class LocalStack:
    endpoint: str
    region: str
    stack_name: str
    parameters: dict[str, Any]
    template: dict[str, Any]  # transformed (CloudFormation) template that was deployed
    physical: dict[str, str]  # logical id -> physical id (incl. what this script applied)
    outputs: dict[str, str]
    summary: dict[str, Any]
    report: Report
    resolver: Resolver
    clients: Clients


def _stack_or_none(cf: Any, stack_name: str) -> Optional[dict[str, Any]]:
    try:
        stacks = cf.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    return live[0] if live else None


def _wait_for_stack(cf: Any, stack_name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack = _stack_or_none(cf, stack_name)
        status = stack["StackStatus"] if stack else "MISSING"
        if status == "CREATE_COMPLETE":
            return stack  # type: ignore[return-value]
        if not status.endswith("_IN_PROGRESS"):
            events = cf.describe_stack_events(StackName=stack_name).get("StackEvents", []) if stack else []
            reasons = [
                f"{e.get('LogicalResourceId')}: {e.get('ResourceStatus')} {e.get('ResourceStatusReason', '')}"
                for e in events
                if "FAILED" in e.get("ResourceStatus", "")
            ]
            raise LocalStackError(f"stack {stack_name} is {status}: {reasons or stack.get('StackStatusReason') if stack else ''}")
        if time.monotonic() >= deadline:
            raise LocalStackError(f"stack {stack_name} still {status} after {timeout:.0f}s")
        time.sleep(0.5)


def build_local_stack(
    endpoint: str,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    parameters: Optional[dict[str, str]] = None,
    template: Path = TEMPLATE,
    log: Log = _stderr,
    timeout: float = 120.0,
) -> LocalStack:
    """Create (or re-check) the stack on moto and fill moto's gaps; see the module doc."""
    overrides = dict(DEFAULT_PARAMETERS if parameters is None else parameters)
    clients = Clients(endpoint, region)
    wait_for_endpoint(clients.endpoint, timeout=min(timeout, 30.0))

    code_bucket = code_bucket_name(stack_name)
    cfn = transformed_template(code_bucket, CODE_KEY, template)
    param_values = resolve_parameters(cfn, overrides)

    cf = clients.cloudformation
    stack = _stack_or_none(cf, stack_name)
    if stack is None:
        log(f"uploading placeholder function code to s3://{code_bucket}/{CODE_KEY}")
        try:
            if region == "us-east-1":
                clients.s3.create_bucket(Bucket=code_bucket)
            else:
                clients.s3.create_bucket(
                    Bucket=code_bucket, CreateBucketConfiguration={"LocationConstraint": region}
                )
        except ClientError as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        clients.s3.put_object(Bucket=code_bucket, Key=CODE_KEY, Body=placeholder_zip())
        log(f"creating stack {stack_name} from {template} with {overrides}")
        cf.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(overrides.items())],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    else:
        live = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        differing = {k: (live.get(k), v) for k, v in overrides.items() if live.get(k) != v}
        if differing:
            raise LocalStackError(
                f"stack {stack_name} already exists with other parameters {differing} (live, wanted); "
                "use another --stack-name or a fresh moto server"
            )
        log(f"stack {stack_name} already exists ({stack['StackStatus']}); re-checking it")
    stack = _wait_for_stack(cf, stack_name, timeout)
    log(f"stack {stack_name}: {stack['StackStatus']}")

    physical: dict[str, str] = {}
    created_types: dict[str, str] = {}
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for res in page["StackResourceSummaries"]:
            if res.get("LogicalResourceId"):
                physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
                created_types[res["LogicalResourceId"]] = res["ResourceType"]

    account_id = clients.sts.get_caller_identity()["Account"]
    resolver = Resolver(cfn, param_values, physical, clients, stack_name, stack["StackId"], account_id)
    report = Report()
    ctx = Ctx(clients, resolver, report, stack_name, log)

    resources = cfn["Resources"]
    skipped = [lid for lid in resources if lid not in physical and resolver.resource_enabled(lid)]
    log(
        f"moto created {len(physical)} of {len(resources)} resources; skipped: "
        + (", ".join(f"{lid} ({resources[lid]['Type']})" for lid in skipped) or "none")
    )
    report.skipped_resources.extend(skipped)
    unsupported = [f"{lid} ({resources[lid]['Type']})" for lid in skipped if resources[lid]["Type"] not in RESOURCE_APPLIERS]
    if unsupported:
        raise LocalStackError(
            f"moto did not create {unsupported} and deploy/local_stack.py has no applier for that type; "
            "add one to RESOURCE_APPLIERS so the local stack keeps matching the template"
        )

    # Resources in DependsOn order is not needed here: every skipped resource
    # only refers to resources moto did create.
    for lid in skipped:
        props = resolver.resolve(resources[lid].get("Properties", {}))
        pid = RESOURCE_APPLIERS[resources[lid]["Type"]](ctx, lid, props)
        if pid:
            physical[lid] = pid

    for lid, res in resources.items():
        fixer = PROPERTY_FIXERS.get(res["Type"])
        if fixer and lid in created_types:
            fixer(ctx, lid, physical[lid], resolver.resolve(res.get("Properties", {})))

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    summary = _summary(clients, outputs)
    return LocalStack(
        endpoint=clients.endpoint,
        region=region,
        stack_name=stack_name,
        parameters=param_values,
        template=cfn,
        physical=physical,
        outputs=outputs,
        summary=summary,
        report=report,
        resolver=resolver,
        clients=clients,
    )


def _summary(clients: Clients, outputs: dict[str, str]) -> dict[str, Any]:
    missing = sorted(v for v in OUTPUT_KEYS.values() if v not in outputs)
    if missing:
        raise LocalStackError(f"stack outputs {missing} are missing (template Outputs changed?)")
    values: dict[str, Any] = {key: outputs[out] for key, out in OUTPUT_KEYS.items()}
    # moto's CloudFormation reports queue URLs on sqs.<region>.amazonaws.com;
    # hand out the URLs moto serves at this endpoint (same queues).
    for key in ("queue_url", "dlq_url"):
        name = values[key].rstrip("/").rsplit("/", 1)[1]
        values[key] = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    lam = clients.lambda_
    envs = [
        lam.get_function_configuration(FunctionName=values[f]).get("Environment", {}).get("Variables", {})
        for f in ("producer_function", "consumer_function")
    ]
    for key, var in ENV_KEYS.items():
        seen = {str(env.get(var)) for env in envs}
        if len(seen) != 1 or "None" in seen:
            raise LocalStackError(f"functions disagree on / lack {var}: {seen}")
        values[key] = seen.pop()
    values["refresh_seconds"] = int(float(values["refresh_seconds"]))
    return {key: values[key] for key in SUMMARY_KEYS}


def create_local_stack(
    endpoint: str,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    parameters: Optional[dict[str, str]] = None,
    template: Path = TEMPLATE,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Create the local stack; return {"topic_arn", "queue_url", ...} (see the module doc)."""
    return build_local_stack(endpoint, stack_name, region, parameters, template, log).summary


# --------------------------------------------------------------------------- CLI


def _parse_parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="moto server URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME)
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        type=_parse_parameter,
        default=[],
        metavar="KEY=VALUE",
        help="template parameter override (repeatable); default StageName=local",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="SAM template (default: template.yaml)")
    args = parser.parse_args(argv)

    parameters = dict(DEFAULT_PARAMETERS)
    parameters.update(dict(args.parameter))
    try:
        stack = build_local_stack(args.endpoint, args.stack_name, args.region, parameters, args.template)
    except (LocalStackError, ClientError) as exc:
        _stderr(f"error: {exc}")
        return 1
    report = stack.report
    _stderr(
        f"done: applied {len(report.applied)} item(s) moto skipped, "
        f"{len(report.not_reproduced)} not reproducible on moto, {len(report.deviations)} deviation(s)"
    )
    json.dump(stack.summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole resources moto's CloudFormation does not create, applied from the
template through the services' own APIs (after reading back the live state)."""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from botocore.exceptions import ClientError

from .clients import error_code
from .context import Ctx
from .intrinsics import as_bool, scalar


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


def _attr_string(value: Any) -> str:
    """An SNS/SQS attribute value: JSON for documents, true/false for booleans."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(scalar(value))


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


def _apply_topic_policy(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    sns = ctx.clients.sns
    document = props["PolicyDocument"]
    for topic_arn in props["Topics"]:
        live = sns.get_topic_attributes(TopicArn=topic_arn).get("Attributes", {})
        if _norm_attr(live.get("Policy")) == document:
            ctx.already(f"{logical_id} (AWS::SNS::TopicPolicy) on {topic_arn}")
            continue
        sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(document))
        ctx.applied(f"{logical_id} (AWS::SNS::TopicPolicy): sns.set_topic_attributes Policy on {topic_arn}")
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
        if error_code(exc) != "NoSuchBucketPolicy":
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
        kwargs["ActionsEnabled"] = as_bool(kwargs["ActionsEnabled"])
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


def _apply_trail(ctx: Ctx, logical_id: str, props: dict[str, Any]) -> Optional[str]:
    # moto records the trail and its selectors; it delivers no data events
    # to EventBridge, so the rule it feeds is checked offline only
    # (deploy/test_audit_trail.py).
    ct = ctx.clients.cloudtrail
    name = props["TrailName"]
    # All trails, matched by name (moto's trailNameList filter does not
    # match plain names).
    if any(t["Name"] == name for t in ct.describe_trails()["trailList"]):
        ctx.already(f"{logical_id} (AWS::CloudTrail::Trail)")
        return name
    ct.create_trail(
        Name=name,
        S3BucketName=props["S3BucketName"],
        EnableLogFileValidation=as_bool(props.get("EnableLogFileValidation", False)),
        IsMultiRegionTrail=as_bool(props.get("IsMultiRegionTrail", False)),
        IncludeGlobalServiceEvents=as_bool(props.get("IncludeGlobalServiceEvents", True)),
    )
    if "AdvancedEventSelectors" in props:
        ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=props["AdvancedEventSelectors"])
    if as_bool(props.get("IsLogging", False)):
        ct.start_logging(Name=name)
    ctx.applied(f"{logical_id} (AWS::CloudTrail::Trail): cloudtrail.create_trail {name} with its selectors")
    return name


# Types moto's CloudFormation does not create and the local stack leaves
# out on purpose, each with the reason it reports. The HTTP API: a moto
# HTTP API would neither check SigV4 nor invoke the function, so the Rust
# e2e tests drive the producer with the event API Gateway delivers for a
# signed request instead (aws/local-stack/tests/e2e/http_api.rs); the
# function's Lambda::Permission is created.
_HTTP_API = (
    "moto's CloudFormation creates no HTTP API, and moto would not authenticate or invoke through one; "
    "the producer is driven with API Gateway's event instead"
)
NOT_ON_MOTO: dict[str, str] = {
    "AWS::ApiGatewayV2::Api": _HTTP_API,
    "AWS::ApiGatewayV2::Stage": _HTTP_API,
}


# type -> applier(ctx, logical_id, resolved properties) -> physical id or None
RESOURCE_APPLIERS: dict[str, Callable[[Ctx, str, dict[str, Any]], Optional[str]]] = {
    "AWS::SNS::Subscription": _apply_subscription,
    "AWS::SQS::QueuePolicy": _apply_queue_policy,
    "AWS::SNS::TopicPolicy": _apply_topic_policy,
    "AWS::S3::BucketPolicy": _apply_bucket_policy,
    "AWS::CloudWatch::Alarm": _apply_alarm,
    "AWS::Logs::MetricFilter": _apply_metric_filter,
    "AWS::CloudTrail::Trail": _apply_trail,
}

"""The stack: created (or re-checked) on moto from the transformed
template, moto's gaps filled, and the summary the Rust code reads."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from botocore.exceptions import ClientError

from .attributes import MotoAttributes
from .clients import Clients, error_code, wait_for_endpoint
from .context import Ctx, Log, Report
from .errors import LocalStackError
from .intrinsics import Resolver, pseudo_parameters
from .properties import PROPERTY_FIXERS
from .resources import NOT_ON_MOTO, RESOURCE_APPLIERS
from .template import CODE_KEY, TEMPLATE, code_bucket_name, placeholder_zip, resolve_parameters, transformed_template

DEFAULT_STACK_NAME = "orderflow-local"
DEFAULT_REGION = "us-east-1"
# PluginPublisherArn has no default in the template; moto does not apply
# the bucket policy that names it (see test_plugin_bucket_policy_is_not_applied).
LOCAL_PUBLISHER_ARN = "arn:aws:iam::123456789012:role/orderflow-local-publisher"
DEFAULT_PARAMETERS = {"StageName": "local", "PluginPublisherArn": LOCAL_PUBLISHER_ARN}

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
    "decision_log_bucket",
)


def _stderr(msg: str) -> None:
    print(f"local-stack: {msg}", file=sys.stderr, flush=True)


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
            if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
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
    pseudo = pseudo_parameters(region, account_id, stack_name, stack["StackId"])
    resolver = Resolver(cfn, param_values, physical, pseudo, MotoAttributes(clients, pseudo))
    report = Report()
    ctx = Ctx(clients, resolver, report, stack_name, log)

    resources = cfn["Resources"]
    skipped = [lid for lid in resources if lid not in physical and resolver.resource_enabled(lid)]
    log(
        f"moto created {len(physical)} of {len(resources)} resources; skipped: "
        + (", ".join(f"{lid} ({resources[lid]['Type']})" for lid in skipped) or "none")
    )
    report.skipped_resources.extend(skipped)
    for lid in [lid for lid in skipped if resources[lid]["Type"] in NOT_ON_MOTO]:
        ctx.not_reproduced(f"{lid} ({resources[lid]['Type']}): {NOT_ON_MOTO[resources[lid]['Type']]}")
        skipped.remove(lid)
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
    # Set only with DecisionLog=Enabled; None (null) otherwise.
    values["decision_log_bucket"] = envs[0].get("ORDERFLOW_DECISION_LOG_BUCKET")
    return {key: values[key] for key in SUMMARY_KEYS}


def create_local_stack(endpoint: str, **options: Any) -> dict[str, Any]:
    """Create the local stack; return {"topic_arn", "queue_url", ...} (see the module doc).

    `options` are those of build_local_stack."""
    return build_local_stack(endpoint, **options).summary

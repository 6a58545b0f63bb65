"""Properties moto's CloudFormation drops from resources it does create,
applied from the template (or reported as not reproducible on moto)."""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from .clients import error_code
from .context import Ctx
from .errors import LocalStackError
from .intrinsics import as_bool


def _bucket_gaps(ctx: Ctx, logical_id: str, bucket: str, props: dict[str, Any]) -> None:
    s3 = ctx.clients.s3

    def missing(getter: Callable[[], Any], absent_codes: tuple[str, ...]) -> Any:
        try:
            return getter()
        except ClientError as exc:
            if error_code(exc) in absent_codes:
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
        want = {k: as_bool(props["PublicAccessBlockConfiguration"].get(k, False)) for k in keys}
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
                "BucketKeyEnabled": as_bool(r.get("BucketKeyEnabled", False)),
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
            expiration["ExpiredObjectDeleteMarker"] = as_bool(value)
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
        want = as_bool(pitr.get("PointInTimeRecoveryEnabled", False))
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
    if sse is not None and as_bool(sse.get("SSEEnabled", False)):
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

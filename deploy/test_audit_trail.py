"""Offline checks of the audit trail in template.yaml: CloudTrail records
writes under plugins/ and nothing else, its log bucket is private, encrypted
and written only by this trail, and a write of the live manifest reaches an
encrypted topic that only this rule may publish to.

Run: deploy/validate-template.sh (or `pytest deploy/` in the lint venv).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sam_offline import TEMPLATE, load_sam, to_cloudformation  # noqa: E402

AUDIT = {
    "AuditLogBucket": "AWS::S3::Bucket",
    "AuditLogBucketPolicy": "AWS::S3::BucketPolicy",
    "PluginWritesTrail": "AWS::CloudTrail::Trail",
    "ManifestChangesKey": "AWS::KMS::Key",
    "ManifestChangesTopic": "AWS::SNS::Topic",
    "ManifestChangesTopicPolicy": "AWS::SNS::TopicPolicy",
    "ManifestWrittenRule": "AWS::Events::Rule",
    "PluginObjectsBatchDeletedRule": "AWS::Events::Rule",
}
TRAIL_ARN = "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/orderflow-${StageName}-plugin-writes"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return to_cloudformation(load_sam(TEMPLATE))


def _props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return cfn["Resources"][logical_id]["Properties"]


def _statements(cfn: dict[str, Any], logical_id: str, key: str = "PolicyDocument") -> dict[str, Any]:
    return {s["Sid"]: s for s in _props(cfn, logical_id)[key]["Statement"]}


def test_the_trail_is_optional_and_on_by_default(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["AuditTrail"]["Default"] == "true"
    assert cfn["Conditions"]["AuditTrailEnabled"] == {"Fn::Equals": [{"Ref": "AuditTrail"}, "true"]}
    for logical_id, rtype in AUDIT.items():
        assert cfn["Resources"][logical_id]["Type"] == rtype
        assert cfn["Resources"][logical_id]["Condition"] == "AuditTrailEnabled", logical_id
    for output in ("ManifestChangesTopicArn", "AuditLogBucketName"):
        assert cfn["Outputs"][output]["Condition"] == "AuditTrailEnabled"
    assert cfn["Outputs"]["ManifestChangesTopicArn"]["Value"] == {"Ref": "ManifestChangesTopic"}


def test_the_trail_records_writes_under_plugins_and_nothing_else(cfn: dict[str, Any]) -> None:
    trail = _props(cfn, "PluginWritesTrail")
    assert (trail["IsLogging"], trail["EnableLogFileValidation"]) == (True, True)
    assert trail["S3BucketName"] == {"Ref": "AuditLogBucket"}
    assert "EventSelectors" not in trail, "basic selectors would add management events"
    writes, batch_deletes = trail["AdvancedEventSelectors"]
    fields = {f["Field"]: {k: v for k, v in f.items() if k != "Field"} for f in writes["FieldSelectors"]}
    assert fields == {
        "eventCategory": {"Equals": ["Data"]},
        "resources.type": {"Equals": ["AWS::S3::Object"]},
        "resources.ARN": {"StartsWith": [{"Fn::Sub": "${PluginBucket.Arn}/plugins/"}]},
        "readOnly": {"Equals": ["false"]},
    }
    # A DeleteObjects event names the bucket, not the keys: only a selector
    # on the whole bucket sees it, and it selects that one write call alone.
    fields = {f["Field"]: {k: v for k, v in f.items() if k != "Field"} for f in batch_deletes["FieldSelectors"]}
    assert fields == {
        "eventCategory": {"Equals": ["Data"]},
        "resources.type": {"Equals": ["AWS::S3::Object"]},
        "eventName": {"Equals": ["DeleteObjects"]},
        "resources.ARN": {"StartsWith": [{"Fn::Sub": "${PluginBucket.Arn}/"}]},
    }
    assert cfn["Resources"]["PluginWritesTrail"]["DependsOn"] == "AuditLogBucketPolicy"


def test_the_log_bucket_is_private_encrypted_and_written_only_by_this_trail(cfn: dict[str, Any]) -> None:
    bucket = _props(cfn, "AuditLogBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert cfn["Resources"]["AuditLogBucket"]["DeletionPolicy"] == "Retain"

    statements = _statements(cfn, "AuditLogBucketPolicy")
    assert set(statements) == {"CloudTrailChecksTheAcl", "CloudTrailWrites", "DenyInsecureTransport"}
    for sid in ("CloudTrailChecksTheAcl", "CloudTrailWrites"):
        s = statements[sid]
        assert (s["Effect"], s["Principal"]) == ("Allow", {"Service": "cloudtrail.amazonaws.com"})
        assert s["Condition"]["StringEquals"]["aws:SourceArn"] == {"Fn::Sub": TRAIL_ARN}, sid
    assert statements["CloudTrailChecksTheAcl"]["Action"] == "s3:GetBucketAcl"
    write = statements["CloudTrailWrites"]
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {"Fn::Sub": "${AuditLogBucket.Arn}/AWSLogs/${AWS::AccountId}/*"}
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The trail's name is the one the policy names.
    assert _props(cfn, "PluginWritesTrail")["TrailName"] == {"Fn::Sub": "orderflow-${StageName}-plugin-writes"}


def _assert_s3_api_call_rule(cfn: dict[str, Any], logical_id: str, name: str, detail: dict[str, Any]) -> None:
    """An enabled rule on S3 calls as CloudTrail hands them to EventBridge, feeding the topic."""
    rule = _props(cfn, logical_id)
    assert rule["Name"] == {"Fn::Sub": f"orderflow-${{StageName}}-{name}"}
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["s3.amazonaws.com"], **detail},
    }
    assert rule["Targets"] == [{"Id": "manifest-changes", "Arn": {"Ref": "ManifestChangesTopic"}}]


def test_a_write_of_the_live_manifest_is_an_event_on_the_topic(cfn: dict[str, Any]) -> None:
    _assert_s3_api_call_rule(
        cfn,
        "ManifestWrittenRule",
        "manifest-written",
        {
            "eventName": ["PutObject", "CopyObject", "DeleteObject", "CompleteMultipartUpload"],
            "requestParameters": {"bucketName": [{"Ref": "PluginBucket"}], "key": [{"Ref": "ManifestKey"}]},
        },
    )


def test_a_batch_delete_in_the_plugin_bucket_is_an_event_on_the_topic(cfn: dict[str, Any]) -> None:
    # CloudTrail names no keys for DeleteObjects: any batch delete in the bucket.
    _assert_s3_api_call_rule(
        cfn,
        "PluginObjectsBatchDeletedRule",
        "plugin-objects-batch-deleted",
        {"eventName": ["DeleteObjects"], "requestParameters": {"bucketName": [{"Ref": "PluginBucket"}]}},
    )


def test_the_topic_is_encrypted_and_only_the_rules_publish(cfn: dict[str, Any]) -> None:
    assert _props(cfn, "ManifestChangesTopic")["KmsMasterKeyId"] == {"Ref": "ManifestChangesKey"}
    key = _props(cfn, "ManifestChangesKey")
    assert key["EnableKeyRotation"] is True
    grants = _statements(cfn, "ManifestChangesKey", "KeyPolicy")
    assert set(grants) == {"AccountAdministers", "EventBridgePublishes"}
    assert grants["AccountAdministers"]["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    events = grants["EventBridgePublishes"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert sorted(events) == ["Action", "Effect", "Principal", "Resource", "Sid"]

    statements = _statements(cfn, "ManifestChangesTopicPolicy")
    assert set(statements) == {"OnlyTheAuditRulesPublish", "DenyInsecureTransport"}
    allow = statements["OnlyTheAuditRulesPublish"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == (
        "Allow",
        {"Service": "events.amazonaws.com"},
        "sns:Publish",
    )
    assert allow["Condition"] == {
        "ArnEquals": {
            "aws:SourceArn": [
                {"Fn::GetAtt": ["ManifestWrittenRule", "Arn"]},
                {"Fn::GetAtt": ["PluginObjectsBatchDeletedRule", "Arn"]},
            ]
        }
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert _props(cfn, "ManifestChangesTopicPolicy")["Topics"] == [{"Ref": "ManifestChangesTopic"}]


def test_no_function_role_gains_anything_from_the_trail(cfn: dict[str, Any]) -> None:
    for role in ("ProducerRole", "ConsumerRole"):
        text = str(_props(cfn, role))
        for name in AUDIT:
            assert name not in text, (role, name)

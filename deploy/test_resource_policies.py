"""Offline checks of template.yaml's resource policies: who may publish to
the topic and subscribe to it, who may send to the queue, who may change
the rules under plugins/, and the consumer's dead-letter grant. Each checker
is also run on a widened copy of the template, so it is shown to fail.

Run: deploy/validate-template.sh (or `pytest deploy/` in the lint venv).
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The loaded template and helpers, shared with the IAM checks.
from test_template_policies import ALLOWED, _as_list, _canon, _props, sam  # noqa: E402,F401


PRODUCER_ARN = {"Fn::GetAtt": ["ProducerRole", "Arn"]}
TOPIC = {"Ref": "HighValueOrderTopic"}
QUEUE_ARN = {"Fn::GetAtt": ["HighValueQueue", "Arn"]}
# The one principal besides the topic that may send to the queue: the DLQ's redriver.
REDRIVER = {"Fn::If": ["HasDeadLetterRedriver", {"Ref": "DeadLetterRedriveArn"}, {"Ref": "PluginPublisherArn"}]}


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(doc.get("Statement"))


def _denies(doc: dict[str, Any], action: str, condition: dict[str, Any]) -> bool:
    """Whether some Deny to every principal covers `action` under exactly `condition`."""
    return any(
        st.get("Effect") == "Deny"
        and st.get("Principal") == "*"
        and action in _as_list(st.get("Action"))
        and st.get("Condition") == condition
        for st in _statements(doc)
    )


def topic_policy_problems(template: dict[str, Any]) -> list[str]:
    """Why the high-value topic's policy lets someone other than the producer
    publish, something other than the queue subscribe, or plain HTTP in."""
    policies = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::TopicPolicy" and TOPIC in r["Properties"].get("Topics", [])
    ]
    if len(policies) != 1:
        return [f"{len(policies)} AWS::SNS::TopicPolicy on the topic, want 1"]
    doc = policies[0]["PolicyDocument"]
    problems = []
    for st in _statements(doc):
        if st.get("Effect") == "Allow" and (
            st.get("Principal") != {"AWS": PRODUCER_ARN} or _as_list(st.get("Action")) != ["sns:Publish"]
        ):
            problems.append(f"Allow {st.get('Sid')} is not sns:Publish for the producer role only")
        if st.get("Effect") == "Allow" and "Condition" in st:
            problems.append(f"Allow {st.get('Sid')} has a Condition")
    if not _denies(doc, "sns:Publish", {"ArnNotEquals": {"aws:PrincipalArn": PRODUCER_ARN}}):
        problems.append("no Deny of sns:Publish to every principal but the producer role")
    if not _denies(doc, "sns:Subscribe", {"StringNotEquals": {"sns:Endpoint": QUEUE_ARN}}):
        problems.append("no Deny of sns:Subscribe to every endpoint but the high-value queue")
    if not _denies(doc, "sns:Publish", {"Bool": {"aws:SecureTransport": "false"}}):
        problems.append("no Deny of sns:Publish without TLS")
    return problems


def queue_policy_problems(template: dict[str, Any]) -> list[str]:
    """Why someone other than the topic may send to the high-value queue."""
    doc = template["Resources"]["HighValueQueuePolicy"]["Properties"]["PolicyDocument"]
    problems = []
    if not _denies(doc, "sqs:SendMessage", {"ArnNotEquals": {"aws:SourceArn": TOPIC, "aws:PrincipalArn": REDRIVER}}):
        problems.append("no Deny of sqs:SendMessage to every sender but the topic and the redriver")
    if not _denies(doc, "sqs:*", {"Bool": {"aws:SecureTransport": "false"}}):
        problems.append("no Deny of sqs:* without TLS")
    for st in _statements(doc):
        if st.get("Effect") == "Allow" and st.get("Condition") != {"ArnEquals": {"aws:SourceArn": TOPIC}}:
            problems.append(f"Allow {st.get('Sid')} is not bound to the topic")
    return problems


def test_topic_policy_lets_only_the_producer_publish_and_the_queue_subscribe(sam: dict[str, Any]) -> None:
    assert topic_policy_problems(sam) == []


def test_queue_policy_denies_every_sender_but_the_topic(sam: dict[str, Any]) -> None:
    assert queue_policy_problems(sam) == []


def _topic_doc(sam: dict[str, Any]) -> dict[str, Any]:
    return sam["Resources"]["HighValueOrderTopicPolicy"]["Properties"]["PolicyDocument"]


def _drop_sid(sid: str) -> Any:
    def widen(sam: dict[str, Any]) -> None:
        doc = _topic_doc(sam)
        doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != sid]

    return widen


def _allow_anyone_to_publish(sam: dict[str, Any]) -> None:
    _topic_doc(sam)["Statement"].append(
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC}
    )


def _no_topic_policy(sam: dict[str, Any]) -> None:
    del sam["Resources"]["HighValueOrderTopicPolicy"]


@pytest.mark.parametrize(
    ("widen", "must_mention"),
    [
        (_drop_sid("DenyPublishButByTheProducer"), "but the producer role"),
        (_drop_sid("DenySubscribeButTheQueue"), "high-value queue"),
        (_drop_sid("DenyInsecureTransport"), "without TLS"),
        (_allow_anyone_to_publish, "Allow Everyone"),
        (_no_topic_policy, "0 AWS::SNS::TopicPolicy"),
    ],
)
def test_topic_policy_checker_reports_a_widened_policy(sam: dict[str, Any], widen: Any, must_mention: str) -> None:
    widened = copy.deepcopy(sam)
    widen(widened)
    problems = topic_policy_problems(widened)
    assert any(must_mention in p for p in problems), problems


def test_queue_policy_checker_reports_a_missing_sender_deny(sam: dict[str, Any]) -> None:
    widened = copy.deepcopy(sam)
    doc = widened["Resources"]["HighValueQueuePolicy"]["Properties"]["PolicyDocument"]
    doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != "DenyAnySenderButTheTopic"]
    assert any("every sender but the topic" in p for p in queue_policy_problems(widened))


def test_queue_policy_checker_reports_a_redriver_left_open(sam: dict[str, Any]) -> None:
    widened = copy.deepcopy(sam)
    doc = widened["Resources"]["HighValueQueuePolicy"]["Properties"]["PolicyDocument"]
    for st in doc["Statement"]:
        if st.get("Sid") == "DenyAnySenderButTheTopic":
            st["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = "*"
    assert any("every sender but the topic" in p for p in queue_policy_problems(widened))


def test_consumer_dead_letters_to_the_dlq(sam: dict[str, Any]) -> None:
    """A permanent failure goes to the DLQ at once: its URL, and a grant to send there only."""
    env = _props(sam, "ConsumerFunction")["Environment"]["Variables"]
    assert env["ORDERFLOW_DLQ_URL"] == {"Ref": "HighValueDLQ"}
    sends = {res for action, res in ALLOWED["ConsumerRole"] if action == "sqs:SendMessage"}
    assert sends == {_canon({"Fn::GetAtt": ["HighValueDLQ", "Arn"]})}


PLUGIN_WRITES = {
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:RestoreObject",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
}


def plugin_writer_problems(template: dict[str, Any]) -> list[str]:
    """Why someone other than the publisher principal may change what is under plugins/."""
    param = template.get("Parameters", {}).get("PluginPublisherArn")
    if not param:
        return ["no PluginPublisherArn parameter"]
    problems = []
    if "Default" in param:
        problems.append("PluginPublisherArn has a Default: a stack must name its publisher")
    doc = template["Resources"]["PluginBucketPolicy"]["Properties"]["PolicyDocument"]
    want = {"ArnNotEquals": {"aws:PrincipalArn": {"Ref": "PluginPublisherArn"}}}
    plugins = {"Fn::Sub": "${PluginBucket.Arn}/plugins/*"}
    denies = [
        st
        for st in _statements(doc)
        if st.get("Effect") == "Deny" and st.get("Principal") == "*" and st.get("Condition") == want
    ]
    covered = {a for st in denies if plugins in _as_list(st.get("Resource")) for a in _as_list(st.get("Action"))}
    missing = PLUGIN_WRITES - covered
    if missing:
        problems.append(f"writes under plugins/ not denied to all but the publisher: {sorted(missing)}")
    for st in _statements(doc):
        if st.get("Effect") == "Allow":
            problems.append(f"Allow {st.get('Sid')} in the plugin bucket policy")
    return problems


def test_only_the_publisher_may_change_the_rules(sam: dict[str, Any]) -> None:
    assert plugin_writer_problems(sam) == []
    pattern = sam["Parameters"]["PluginPublisherArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/orderflow-publisher")
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:user/ops/ana")
    assert not re.fullmatch(pattern, "*")
    assert not re.fullmatch(pattern, "arn:aws:iam::123456789012:root")


@pytest.mark.parametrize("dropped", ["s3:PutObject", "s3:DeleteObjectVersion", "s3:RestoreObject"])
def test_plugin_writer_checker_reports_a_write_left_open(sam: dict[str, Any], dropped: str) -> None:
    widened = copy.deepcopy(sam)
    for st in widened["Resources"]["PluginBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        if st.get("Sid") == "OnlyThePublisherChangesPlugins":
            st["Action"] = [a for a in st["Action"] if a != dropped]
    assert any(dropped in p for p in plugin_writer_problems(widened))


def test_plugin_writer_checker_reports_a_default_publisher(sam: dict[str, Any]) -> None:
    widened = copy.deepcopy(sam)
    widened["Parameters"]["PluginPublisherArn"]["Default"] = "arn:aws:iam::123456789012:role/anyone"
    assert any("Default" in p for p in plugin_writer_problems(widened))


def test_log_level_is_a_closed_list(sam: dict[str, Any]) -> None:
    """A free-form RUST_LOG could switch on output no redaction was written for."""
    level = sam["Parameters"]["LogLevel"]
    assert level["AllowedValues"] == ["error", "warn", "info", "debug"]
    assert level["Default"] in level["AllowedValues"]

"""Fn::GetAtt values of the resources moto created, read from moto itself."""

from __future__ import annotations

from typing import Any

from .clients import Clients
from .errors import LocalStackError


class MotoAttributes:
    """The `get_att` of a Resolver: looks attributes up through the clients."""

    def __init__(self, clients: Clients, pseudo: dict[str, str]) -> None:
        self.clients = clients
        self.pseudo = pseudo

    def __call__(self, logical_id: str, rtype: str, pid: str, attr: str) -> Any:
        c = self.clients
        partition = self.pseudo["AWS::Partition"]
        suffix = self.pseudo["AWS::URLSuffix"]
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
                return f"arn:{partition}:s3:::{pid}"
            if attr == "DomainName":
                return f"{pid}.s3.{suffix}"
            if attr == "RegionalDomainName":
                return f"{pid}.s3.{c.region}.{suffix}"
        elif rtype == "AWS::Logs::LogGroup":
            if attr == "Arn":
                # CloudFormation's LogGroup Arn ends in ":*".
                return f"arn:{partition}:logs:{c.region}:{self.pseudo['AWS::AccountId']}:log-group:{pid}:*"
        elif rtype == "AWS::IAM::Role":
            role = c.iam.get_role(RoleName=pid)["Role"]
            if attr == "Arn":
                return role["Arn"]
            if attr == "RoleId":
                return role["RoleId"]
        elif rtype == "AWS::Events::Rule":
            if attr == "Arn":
                return c.events.describe_rule(Name=pid.rsplit("/", 1)[-1])["Arn"]
        elif rtype == "AWS::Lambda::Function":
            if attr == "Arn":
                return c.lambda_.get_function_configuration(FunctionName=pid)["FunctionArn"]
        raise LocalStackError(f"Fn::GetAtt {logical_id}.{attr} ({rtype}) is not supported by deploy/local_stack.py")

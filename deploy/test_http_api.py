"""Offline checks of the HTTP API in template.yaml: no way in without an
authenticated caller, in every setting of ApiAuth; a throttle; JSON access
logs without bodies; and the one permission it gives API Gateway.

The template is transformed offline (deploy/sam_offline.py) and, for each
setting of ApiAuth, every Fn::If is decided the way CloudFormation would
decide it from the template's own Conditions, so what is checked is the
API each deployment gets.

Run: deploy/validate-template.sh (or `pytest deploy/` in the lint venv).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localstack.intrinsics import Resolver, pseudo_parameters  # noqa: E402
from localstack.template import resolve_parameters  # noqa: E402
from sam_offline import TEMPLATE, load_sam, to_cloudformation  # noqa: E402

PUBLISHER = "arn:aws:iam::123456789012:role/orderflow-publisher"
SETTINGS = {
    "IAM": {},
    "JWT": {"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example.com", "JwtAudience": "orders-client"},
}
# What API Gateway's OpenAPI import turns into a route authorizer.
AUTHENTICATED = {"awsSigv4": "AWS_IAM", "jwt": "JWT"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace", "x-amazon-apigateway-any-method"}
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "principal": "$context.identity.userArn",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
}


def _decide(value: Any, resolver: Resolver) -> Any:
    """`value` with every Fn::If decided; other intrinsics left as they are."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, then, otherwise = value["Fn::If"]
            return _decide(then if resolver.condition(name) else otherwise, resolver)
        return {k: _decide(v, resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [_decide(v, resolver) for v in value]
    return value


def _deployed(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """The resources a stack with these parameters gets, their Fn::Ifs decided."""
    params = resolve_parameters(cfn, {"PluginPublisherArn": PUBLISHER, **overrides})
    pseudo = pseudo_parameters("us-east-1", "123456789012", "orderflow", "stack-id")
    resolver = Resolver(cfn, params, {}, pseudo, lambda *_: None)
    return {
        lid: _decide(res, resolver)
        for lid, res in cfn["Resources"].items()
        if "Condition" not in res or resolver.condition(res["Condition"])
    }


def _of_type(resources: dict[str, Any], rtype: str) -> dict[str, Any]:
    return {lid: res for lid, res in resources.items() if res["Type"] == rtype}


def route_authorizers(resources: dict[str, Any]) -> dict[str, str]:
    """Every route of every HTTP API -> the authorizer API Gateway gives it
    ("NONE" when it has none). Raises on a route it cannot read."""
    routes: dict[str, str] = {}
    for lid, api in _of_type(resources, "AWS::ApiGatewayV2::Api").items():
        body = api["Properties"].get("Body")
        assert isinstance(body, dict), f"{lid}: an HTTP API without an OpenAPI Body (quick create has no authorizer)"
        assert "Target" not in api["Properties"], f"{lid}: quick create makes an unauthenticated $default route"
        schemes = body.get("components", {}).get("securitySchemes", {})
        default = body.get("security", [])
        for path, operations in body.get("paths", {}).items():
            for method, operation in operations.items():
                assert method in METHODS, f"{lid} {path}: unknown key {method}"
                kinds = set()
                for requirement in operation.get("security", default):
                    for name in requirement:
                        scheme = schemes.get(name, {})
                        kind = scheme.get("x-amazon-apigateway-authtype") or scheme.get(
                            "x-amazon-apigateway-authorizer", {}
                        ).get("type")
                        kinds.add(AUTHENTICATED.get(kind, f"NONE (scheme {name}: {kind})"))
                routes[f"{lid} {method.upper()} {path}"] = ", ".join(sorted(kinds)) or "NONE"
    for lid, route in _of_type(resources, "AWS::ApiGatewayV2::Route").items():
        routes[f"{lid} {route['Properties']['RouteKey']}"] = route["Properties"].get("AuthorizationType", "NONE")
    return routes


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return to_cloudformation(load_sam(TEMPLATE))


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def setting(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def deployed(cfn: dict[str, Any], setting: str) -> dict[str, Any]:
    return _deployed(cfn, SETTINGS[setting])


def _api(deployed: dict[str, Any]) -> dict[str, Any]:
    apis = _of_type(deployed, "AWS::ApiGatewayV2::Api")
    assert list(apis) == ["OrdersApi"]
    return apis["OrdersApi"]["Properties"]


def test_the_one_route_is_post_orders_with_the_chosen_authorizer(deployed: dict[str, Any], setting: str) -> None:
    want = {"IAM": "AWS_IAM", "JWT": "JWT"}[setting]
    assert route_authorizers(deployed) == {"OrdersApi POST /orders": want}


def test_the_jwt_authorizer_takes_the_parameters(deployed: dict[str, Any], setting: str) -> None:
    schemes = _api(deployed)["Body"]["components"]["securitySchemes"]
    if setting == "IAM":
        assert list(schemes) == ["AWS_IAM"]
        return
    authorizer = schemes["OrdersJwt"]["x-amazon-apigateway-authorizer"]
    assert authorizer["identitySource"] == "$request.header.Authorization"
    assert authorizer["jwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}


def test_a_jwt_api_needs_an_issuer(cfn: dict[str, Any]) -> None:
    rule = load_sam(TEMPLATE)["Rules"]["JwtNeedsAnIssuer"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "JWT"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}
    assert cfn["Parameters"]["ApiAuth"]["AllowedValues"] == ["IAM", "JWT"]
    assert cfn["Parameters"]["ApiAuth"]["Default"] == "IAM"


def test_the_stage_is_throttled_and_logs_json_without_bodies(deployed: dict[str, Any]) -> None:
    stages = _of_type(deployed, "AWS::ApiGatewayV2::Stage")
    assert [s["Properties"]["ApiId"] for s in stages.values()] == [{"Ref": "OrdersApi"}]
    stage = next(iter(stages.values()))["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
    }
    logs = stage["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["OrdersApiAccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert ACCESS_LOG_FIELDS.items() <= fields.items()
    assert not [v for v in fields.values() if "body" in v.lower() or "header" in v.lower()]
    group = deployed["OrdersApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_api_gateway_may_invoke_the_producer_on_post_orders_only(deployed: dict[str, Any]) -> None:
    permissions = _of_type(deployed, "AWS::Lambda::Permission")
    assert list(permissions) == ["ProducerFunctionPostOrdersPermission"]
    p = permissions["ProducerFunctionPostOrdersPermission"]["Properties"]
    assert (p["Action"], p["FunctionName"], p["Principal"]) == (
        "lambda:InvokeFunction",
        {"Ref": "ProducerFunction"},
        "apigateway.amazonaws.com",
    )
    arn, names = p["SourceArn"]["Fn::Sub"]
    assert arn.endswith(":${__ApiId__}/${__Stage__}/POST/orders") and names["__ApiId__"] == {"Ref": "OrdersApi"}


@pytest.mark.parametrize(
    "breach",
    [
        "no security on the route",
        "an empty security requirement",
        "a scheme API Gateway does not authenticate with",
        "a second path without security",
        "a route resource without an authorizer",
    ],
)
def test_the_check_finds_an_unauthenticated_route(cfn: dict[str, Any], breach: str) -> None:
    """The checker can fail: each way of opening the API is reported."""
    resources = _deployed(cfn, {})
    body = resources["OrdersApi"]["Properties"]["Body"]
    post = body["paths"]["/orders"]["post"]
    if breach == "no security on the route":
        del post["security"]
    elif breach == "an empty security requirement":
        post["security"] = [{}]
    elif breach == "a scheme API Gateway does not authenticate with":
        body["components"]["securitySchemes"]["AWS_IAM"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
    elif breach == "a second path without security":
        body["paths"]["/{proxy+}"] = {"x-amazon-apigateway-any-method": {}}
    else:
        resources["Open"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "$default"}}
    assert any(kind.startswith("NONE") for kind in route_authorizers(resources).values())

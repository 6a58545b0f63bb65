"""boto3 clients pointed at the moto endpoint, and waiting for it to answer."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import Any, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import LocalStackError


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


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")

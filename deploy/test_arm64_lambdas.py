"""What ships is what was tested: the arm64 `bootstrap` binaries run under
qemu-user against the local stack created from template.yaml on moto.

Each binary is started as Lambda would start it, against a small stand-in
for the Lambda Runtime API (the HTTP interface a `provided.al2023` runtime
polls for events), so the real `main` — tracing, clients, configuration from
the environment, plugins fetched from S3 — runs end to end:

1. the producer gets a direct invocation with sample orders and publishes
   the high-value ones to the topic;
2. the queue's messages are handed to the consumer as an SQS event, the way
   the event source mapping would; it stores them and answers
   batchItemFailures;
3. the table holds exactly the published orders.

Needs: target/lambda/orderflow-{producer,consumer}/bootstrap built for arm64
(deploy/build-lambdas.sh arm64), qemu-aarch64 with an aarch64 sysroot
(Debian: qemu-user, libc6-arm64-cross), the native `orderflow` CLI
(target/debug/orderflow) to publish the plugins, and the example plugin set
(`cargo xtask plugins`). `cargo xtask test` arranges all of it.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import local_stack  # noqa: E402
from test_local_stack import endpoint  # noqa: E402,F401  (the moto_server fixture)

REPO = Path(__file__).resolve().parent.parent
LAMBDA_DIR = REPO / "target" / "lambda"
SYSROOT = Path(os.environ.get("ORDERFLOW_AARCH64_SYSROOT", "/usr/aarch64-linux-gnu"))
CLI = REPO / "target" / "debug" / "orderflow"
PLUGINS = REPO / "target" / "example-plugins" / "manifest.json"
TIMEOUT = float(os.environ.get("ORDERFLOW_QEMU_TIMEOUT", "600"))


class RuntimeApi:
    """A stand-in for the Lambda Runtime API: hands out queued events, one per
    `next`, and collects what the function answers."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.answers: dict[str, Any] = {}
        self.cond = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                with api.cond:
                    while not api.events:
                        api.cond.wait()
                    event = api.events.pop(0)
                body = json.dumps(event["payload"]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", event["id"])
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode() if length else ""
                parts = self.path.strip("/").split("/")
                with api.cond:
                    if "init" in parts:
                        api.answers["init-error"] = body
                    else:
                        api.answers[parts[-2]] = {"kind": parts[-1], "body": body}
                    api.cond.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, payload: Any, timeout: float = TIMEOUT) -> Any:
        request_id = str(uuid.uuid4())
        with self.cond:
            self.events.append({"id": request_id, "payload": payload})
            self.cond.notify_all()
            deadline = time.monotonic() + timeout
            while request_id not in self.answers and "init-error" not in self.answers:
                left = deadline - time.monotonic()
                assert left > 0, f"no answer from the function within {timeout} s"
                self.cond.wait(left)
        assert "init-error" not in self.answers, self.answers["init-error"]
        answer = self.answers[request_id]
        assert answer["kind"] == "response", answer
        return json.loads(answer["body"])

    def close(self) -> None:
        self.server.shutdown()


def _binary(name: str) -> Path:
    path = LAMBDA_DIR / name / "bootstrap"
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `deploy/build-lambdas.sh arm64`")
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183, f"{path} is not an aarch64 ELF"
    return path


def _qemu() -> str:
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if not qemu or not SYSROOT.exists():
        pytest.fail("qemu-aarch64 and an aarch64 sysroot are needed: apt-get install qemu-user libc6-arm64-cross")
    return qemu


@pytest.fixture()
def lambda_env(endpoint: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Any, Any]]:  # noqa: F811
    stack = local_stack.create_local_stack(endpoint, stack_name="orderflow-arm64")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ORDERFLOW_PLUGIN_BUCKET": stack["bucket"],
        "ORDERFLOW_MANIFEST_KEY": stack["manifest_key"],
        "ORDERFLOW_REFRESH_SECONDS": "0",
        "ORDERFLOW_CACHE_DIR": str(tmp_path / "cache"),
        "RUST_LOG": "info",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/local",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    }
    assert CLI.exists() and PLUGINS.exists(), "run `cargo xtask plugins` and build the CLI first"
    subprocess.run([str(CLI), "plugins", "--bucket", stack["bucket"], "--manifest-key", stack["manifest_key"],
                    "publish", str(PLUGINS)], env=env, check=True, capture_output=True)
    procs: list[subprocess.Popen[bytes]] = []
    apis: list[RuntimeApi] = []

    def start(function: str, extra: dict[str, str]) -> RuntimeApi:
        api = RuntimeApi()
        apis.append(api)
        log = open(tmp_path / f"{function}.log", "wb")
        procs.append(subprocess.Popen(
            [_qemu(), "-L", str(SYSROOT), str(_binary(f"orderflow-{function}"))],
            env={**env, **extra, "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": function},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
        return api

    try:
        yield env, stack, start
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for api in apis:
            api.close()


def _summary_filter() -> tuple[str, str, str, str]:
    """The template's OrdersFailed filter: (message field, its value, count field, metric value)."""
    text = (REPO / "template.yaml").read_text()
    pattern = re.search(r"FilterPattern: '(.*)'", text).group(1)
    m = re.fullmatch(r'\{ \$\.(\w+) = "([^"]+)" && \$\.(\w+) > 0 \}', pattern)
    assert m, f"unexpected filter pattern {pattern!r}"
    value = re.search(r'MetricValue: "\$\.(\w+)"', text).group(1)
    return m.group(1), m.group(2), m.group(3), value


def test_arm64_producer_and_consumer_run_the_pipeline(lambda_env: Any, tmp_path: Path) -> None:
    env, stack, start = lambda_env
    orders = [json.loads(line) for line in (REPO / "samples" / "orders.jsonl").read_text().splitlines()[:12]]

    producer = start("producer", {"ORDERFLOW_TOPIC_ARN": stack["topic_arn"]})
    answer = producer.invoke({"orders": orders})
    results = answer["results"]
    assert len(results) == len(orders), answer
    published = {r["order_id"] for r in results if r["status"] == "published"}
    assert published and all(r["status"] in ("published", "not_high_value") for r in results), answer

    # The alarm on orders that could not be published counts them from the
    # producer's summary log line: the shipped binary must write that line
    # with the fields the template's metric filter reads.
    message_field, message, count_field, metric_field = _summary_filter()
    lines = [json.loads(line) for line in (tmp_path / "producer.log").read_text().splitlines()
             if line.startswith("{")]
    summary = [line for line in lines if line.get(message_field) == message]
    assert len(summary) == 1, lines
    assert summary[0][count_field] == 0 and count_field == metric_field, summary
    assert summary[0]["published"] == len(published), summary

    sqs = local_stack.Clients(env["AWS_ENDPOINT_URL"], "us-east-1").sqs
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(messages) < len(published) and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=stack["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=600, MessageAttributeNames=["All"]).get("Messages", [])
        messages.extend(got)
    assert len(messages) == len(published)

    records = [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                       "SenderId": "sns", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:HighValueQueue", "awsRegion": "us-east-1",
    } for m in messages]
    consumer = start("consumer", {"ORDERFLOW_TABLE_NAME": stack["table_name"]})
    answer = consumer.invoke({"Records": records})
    assert answer == {"batchItemFailures": []}, answer
    for m in messages:
        sqs.delete_message(QueueUrl=stack["queue_url"], ReceiptHandle=m["ReceiptHandle"])

    dynamodb = local_stack.Clients(env["AWS_ENDPOINT_URL"], "us-east-1").dynamodb
    items = dynamodb.scan(TableName=stack["table_name"])["Items"]
    assert sorted(i["OrderId"]["S"] for i in items) == sorted(published)
    assert all("DisplayTotal" in i for i in items), "the transforms ran"
    for function in ("producer", "consumer"):
        log = (tmp_path / f"{function}.log").read_text()
        assert "@example.com" not in log, f"an e-mail address reached the {function}'s log"


@pytest.mark.parametrize("function", ["producer", "consumer"])
def test_binaries_run_on_provided_al2023(function: str) -> None:
    """provided.al2023 ships glibc 2.34: no symbol may need a newer one."""
    symbols = subprocess.run(["objdump", "-T", str(_binary(f"orderflow-{function}"))],
                             check=True, capture_output=True, text=True).stdout
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", symbols)}
    assert versions, "a dynamically linked glibc binary"
    assert max(versions) <= (2, 34), f"needs glibc {max(versions)}, provided.al2023 has 2.34"

"""`python3 deploy/local_stack.py --endpoint URL ...`: JSON summary on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from botocore.exceptions import ClientError

from .errors import LocalStackError
from .stack import DEFAULT_PARAMETERS, DEFAULT_REGION, DEFAULT_STACK_NAME, TEMPLATE, _stderr, build_local_stack

DESCRIPTION = "Create orderflow's local stack on a moto server, from template.yaml itself."


def _parse_parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
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

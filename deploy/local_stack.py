#!/usr/bin/env python3
"""Create orderflow's local stack on a moto server, from template.yaml itself.

The command line (`python3 deploy/local_stack.py --endpoint URL ...`, as the
Rust local stack runs it) and the names the tests import. The work is done
in the `localstack` package next to this file: see its docstring.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localstack.cli import main  # noqa: E402
from localstack.clients import Clients  # noqa: E402
from localstack.errors import LocalStackError  # noqa: E402
from localstack.resources import RESOURCE_APPLIERS  # noqa: E402
from localstack.stack import SUMMARY_KEYS, LocalStack, build_local_stack, create_local_stack  # noqa: E402
from localstack.template import resolve_parameters, transformed_template  # noqa: E402

__all__ = [
    "Clients",
    "LocalStack",
    "LocalStackError",
    "RESOURCE_APPLIERS",
    "SUMMARY_KEYS",
    "build_local_stack",
    "create_local_stack",
    "main",
    "resolve_parameters",
    "transformed_template",
]

if __name__ == "__main__":
    sys.exit(main())

"""Each deploy/requirements-NAME.lock still locks its requirements-NAME.txt.

deploy/venvs.sh installs only from the locks (`pip install --require-hashes
--no-deps`), so a requirement edited without regenerating its lock would
silently not apply. A lock is stale, and this fails, when:

- a top-level requirement of requirements-NAME.txt has no exact `==` pin in
  the lock that satisfies it, or the lock still pins, as a requirement of the
  file, a package the file no longer lists;
- a pinned line is not `name==version` with at least one `--hash=sha256:`;
- its header does not name its source file and how to regenerate it.

Fix: deploy/lock-requirements.sh NAME. Run: deploy/validate-template.sh (or
`pytest deploy/` in the lint venv).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

DEPLOY_DIR = Path(__file__).resolve().parent
NAMES = ("lint", "sam", "checkov", "lambda", "componentize")

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass
class Pin:
    line: int
    name: str
    version: str
    # The "# via" annotations below the pin: "-r requirements-NAME.txt" marks
    # a top-level requirement.
    via: list[str] = field(default_factory=list)


def top_level(req_text: str) -> tuple[list[Requirement], list[str]]:
    """The requirements of a requirements-NAME.txt, and what could not be read."""
    reqs, problems = [], []
    for number, raw in enumerate(req_text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        try:
            if line.startswith("-"):
                raise InvalidRequirement("options and includes are not supported")
            reqs.append(Requirement(line))
        except InvalidRequirement as err:
            problems.append(f"requirements line {number}: cannot read {line!r} ({err})")
    return reqs, problems


def read_lock(lock_text: str) -> tuple[list[str], list[Pin], list[str]]:
    """The lock's header comment, its pins, and the lines that are not hashed pins."""
    header: list[str] = []
    pins: list[Pin] = []
    problems: list[str] = []
    lines = lock_text.splitlines()
    number = 0
    while number < len(lines):
        start = number + 1
        line = lines[number].strip()
        number += 1
        if line.startswith("#"):
            if pins:
                pins[-1].via.append(line.lstrip("#").strip())
            else:
                header.append(line)
            continue
        # One logical line: "name==version \" continued by "--hash=... \".
        while line.endswith("\\") and number < len(lines):
            line = line[:-1] + " " + lines[number].strip()
            number += 1
        if not line:
            continue
        spec, *options = line.split()
        pin = PIN.match(spec)
        if not pin:
            problems.append(f"lock line {start}: {spec!r} is not an exact == pin")
            continue
        pins.append(Pin(start, pin[1], pin[2]))
        if not options:
            problems.append(f"lock line {start}: {spec} has no --hash=sha256")
        for option in options:
            if not HASH.match(option):
                problems.append(f"lock line {start}: {spec}: {option!r} is not a sha256 hash")
    return header, pins, problems


def lock_problems(req_path: Path, lock_path: Path) -> list[str]:
    """Why lock_path does not lock req_path (empty when it does)."""
    source = f"deploy/{req_path.name}"
    reqs, problems = top_level(req_path.read_text())
    header, pins, lock_errors = read_lock(lock_path.read_text())
    problems += lock_errors

    header_text = "\n".join(header)
    if source not in header_text:
        problems.append(f"lock header does not name its source file {source}")
    if "deploy/lock-requirements.sh" not in header_text:
        problems.append("lock header does not say how to regenerate it (deploy/lock-requirements.sh)")

    pinned: dict[str, Pin] = {}
    for pin in pins:
        key = canonicalize_name(pin.name)
        if key in pinned:
            problems.append(f"lock line {pin.line}: {pin.name} is pinned twice")
        pinned[key] = pin

    wanted = set()
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        key = canonicalize_name(req.name)
        wanted.add(key)
        pin = pinned.get(key)
        if pin is None:
            problems.append(f"{req} is not pinned in the lock")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{pin.name}=={pin.version} in the lock does not satisfy {req}")

    direct = f"-r {req_path.name}"
    for key, pin in pinned.items():
        if any(direct in via for via in pin.via) and key not in wanted:
            problems.append(
                f"the lock pins {pin.name} as a requirement of {source}, which no longer lists it"
            )
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_lock_matches_its_requirements(name: str) -> None:
    req = DEPLOY_DIR / f"requirements-{name}.txt"
    lock = DEPLOY_DIR / f"requirements-{name}.lock"
    assert lock.is_file(), f"no {lock.name}: run deploy/lock-requirements.sh {name}"
    problems = lock_problems(req, lock)
    assert not problems, f"{lock.name} is stale (run deploy/lock-requirements.sh {name}):\n" + "\n".join(problems)


def test_every_requirements_file_has_a_lock() -> None:
    reqs = {p.name.removesuffix(".txt") for p in DEPLOY_DIR.glob("requirements-*.txt")}
    locks = {p.name.removesuffix(".lock") for p in DEPLOY_DIR.glob("requirements-*.lock")}
    assert reqs == locks == {f"requirements-{n}" for n in NAMES}


def test_zig_is_pinned_beside_cargo_lambda() -> None:
    """Zig links the shipped binaries: it is a top-level pin, not whatever resolves."""
    reqs, _ = top_level((DEPLOY_DIR / "requirements-lambda.txt").read_text())
    exact = {canonicalize_name(r.name): str(r.specifier) for r in reqs}
    assert exact.get("cargo-lambda", "").startswith("==")
    assert exact.get("ziglang", "").startswith("==")


# A small, valid pair; each case below breaks it one way.
HASH_A = "--hash=sha256:" + "a" * 64
HASH_B = "--hash=sha256:" + "b" * 64
GOOD_REQS = "# tools\ntool==1.2.*  # why\nhelper>=2\n"
GOOD_LOCK = f"""\
# deploy/requirements-demo.lock: resolved from deploy/requirements-demo.txt
# Regenerate with: deploy/lock-requirements.sh demo
helper==2.5 \\
    {HASH_A}
    # via -r requirements-demo.txt
lib==0.9 \\
    {HASH_A} \\
    {HASH_B}
    # via
    #   helper
    #   tool
tool==1.2.3 \\
    {HASH_B}
    # via -r requirements-demo.txt
"""

BROKEN = {
    "hash removed": (
        GOOD_REQS,
        GOOD_LOCK.replace(f"helper==2.5 \\\n    {HASH_A}\n", "helper==2.5\n"),
        "helper==2.5 has no --hash=sha256",
    ),
    "pin loosened": (GOOD_REQS, GOOD_LOCK.replace("lib==0.9", "lib>=0.9"), "'lib>=0.9' is not an exact == pin"),
    "hash mangled": (GOOD_REQS, GOOD_LOCK.replace(HASH_B, "--hash=md5:" + "b" * 32), "is not a sha256 hash"),
    "requirement raised": (
        GOOD_REQS.replace("tool==1.2.*", "tool==1.3.*"),
        GOOD_LOCK,
        "tool==1.2.3 in the lock does not satisfy tool==1.3.*",
    ),
    "requirement added": (GOOD_REQS + "newtool==1\n", GOOD_LOCK, "newtool==1 is not pinned in the lock"),
    "requirement dropped": (
        GOOD_REQS.replace("helper>=2\n", ""),
        GOOD_LOCK,
        "the lock pins helper as a requirement of deploy/requirements-demo.txt, which no longer lists it",
    ),
    "header without source": (
        GOOD_REQS,
        GOOD_LOCK.replace("from deploy/requirements-demo.txt", "from somewhere"),
        "lock header does not name its source file deploy/requirements-demo.txt",
    ),
    "header without regenerate command": (
        GOOD_REQS,
        GOOD_LOCK.replace("Regenerate with: deploy/lock-requirements.sh demo", "Regenerate somehow"),
        "lock header does not say how to regenerate it",
    ),
    "pinned twice": (GOOD_REQS, GOOD_LOCK + f"Tool==1.2.4 \\\n    {HASH_A}\n", "Tool is pinned twice"),
}


def write_pair(tmp_path: Path, reqs: str, lock: str) -> tuple[Path, Path]:
    req_path = tmp_path / "requirements-demo.txt"
    lock_path = tmp_path / "requirements-demo.lock"
    req_path.write_text(reqs)
    lock_path.write_text(lock)
    return req_path, lock_path


def test_the_good_pair_passes(tmp_path: Path) -> None:
    assert lock_problems(*write_pair(tmp_path, GOOD_REQS, GOOD_LOCK)) == []


@pytest.mark.parametrize("case", BROKEN)
def test_a_stale_or_unhashed_lock_fails(tmp_path: Path, case: str) -> None:
    reqs, lock, expected = BROKEN[case]
    problems = lock_problems(*write_pair(tmp_path, reqs, lock))
    assert any(expected in p for p in problems), problems

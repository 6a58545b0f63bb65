"""High-value when the order total is at or above a configured minimum for its
currency: the Python twin of plugins/threshold, giving the same verdicts and
reasons. Configuration: {"minimum_minor": {"EUR": 100000, "USD": 120000}}.
An order in a currency without a minimum is not high-value, and says so.

componentize-py generates the `wit_world` package from wit/orderflow.wit
(world rule-plugin): the exported `rule` interface is this module's `Rule`
class, an error is raised as `Err(message)`, and `evaluate(count)` is lent
that many orders for the one call, read through the `orders` functions by
their index (0 to count - 1), and returns one answer per order.
"""

import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports.rule import Verdict
from wit_world.imports import orders

# JSON numbers a minimum may be: an integer of minor units that fits a u64,
# as the Rust twin's `BTreeMap<String, u64>` accepts.
U64_MAX = (1 << 64) - 1


def parse_minimums(config: str) -> dict[str, int]:
    """The configuration's minimums, or Err with what is wrong with it."""
    try:
        doc = json.loads(config)
    except ValueError as e:
        raise Err(f"invalid configuration: {e}")
    if not isinstance(doc, dict):
        raise Err("invalid configuration: expected an object with minimum_minor")
    unknown = sorted(set(doc) - {"minimum_minor"})
    if unknown:
        raise Err(f"invalid configuration: unknown field `{unknown[0]}`, expected `minimum_minor`")
    if "minimum_minor" not in doc:
        raise Err("invalid configuration: missing field `minimum_minor`")
    minimums = doc["minimum_minor"]
    if not isinstance(minimums, dict):
        raise Err("invalid configuration: minimum_minor must map currency codes to amounts")
    for currency, minimum in minimums.items():
        # bool is an int in Python; JSON's true is not an amount.
        if type(minimum) is not int or not 0 <= minimum <= U64_MAX:
            raise Err(
                f"invalid configuration: minimum_minor.{currency}: {minimum!r} is not an "
                "amount in minor units (a non-negative integer)"
            )
    if not minimums:
        raise Err("invalid configuration: minimum_minor names no currency")
    return minimums


def ascii_upper(text: str) -> str:
    """Upper-cases ASCII letters only, as Rust's to_ascii_uppercase does."""
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


class Rule(exports.Rule):
    # One instance of the component serves one configuration: the host calls
    # `configure` once per instance, before any `evaluate`.
    minimums: dict[str, int] = {}

    def configure(self, config: str) -> None:
        Rule.minimums = parse_minimums(config)

    def evaluate(self, count: int) -> list[Ok[Verdict] | Err[str]]:
        # The host lends `count` orders (contract 0.2.0), read by their
        # index: one answer per order.
        return [Ok(decide(i)) for i in range(count)]


def decide(order: int) -> Verdict:
    currency = ascii_upper(orders.currency(order))
    total = orders.total_minor(order)
    minimum = Rule.minimums.get(currency)
    if minimum is None:
        return Verdict(False, f"no minimum configured for {currency}", [])
    if total >= minimum:
        return Verdict(True, f"total {total} {currency} >= minimum {minimum}", [])
    return Verdict(False, f"total {total} {currency} < minimum {minimum}", [])

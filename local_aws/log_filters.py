"""CloudWatch Logs JSON filter patterns, which moto's FilterLogEvents lacks (it knows single and quoted terms
and lets every event through for anything else).

The subset here is what one asks of JSON access logs: `{ $.status = 5* }`, `{ $.latency > 500 }`,
`{ $.routeKey = "POST /auth/token" && $.status != 200 }`, with `=`/`!=` on strings (`*` a wildcard) and
numbers, `<`, `<=`, `>`, `>=` on numbers, `&&`, `||` and parentheses. Source: Amazon CloudWatch Logs user
guide, "Filter pattern syntax for metric filters, subscription filters, and filter log events", JSON log
events.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from local_aws.moto_adapter import (
    InvalidParameterException,
    moto_log_utils,
)

_TOKEN = re.compile(
    r'\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|(?P<selector>\$[\w.\[\]]+)|"(?P<quoted>[^"]*)"|(?P<bare>[^\s()&|=!<>]+))'
)
_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


class PatternError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise PatternError(f"invalid filter pattern near {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _select(document: Any, selector: str) -> Any:
    value = document
    for name, index in _PART.findall(selector[1:]):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
        else:
            if not isinstance(value, dict) or name not in value:
                return None
            value = value[name]
    return value


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: Any, operator: str, expected: str, quoted: bool) -> bool:
    if actual is None or isinstance(actual, dict | list):
        return False
    wanted, have = _number(expected), _number(actual)
    if operator in ("<", "<=", ">", ">="):
        if wanted is None or have is None:
            return False
        return {"<": have < wanted, "<=": have <= wanted, ">": have > wanted, ">=": have >= wanted}[operator]
    if not quoted and wanted is not None and have is not None and not isinstance(actual, bool):
        equal = have == wanted
    else:
        equal = fnmatch.fnmatchcase(
            str(actual).lower() if isinstance(actual, bool) else str(actual), expected
        )
    return equal if operator == "=" else not equal


class JsonFilterPattern:
    """Parses once; `matches(message)` is False for a message that is not a JSON object."""

    def __init__(self, pattern: str):
        body = pattern.strip()
        if not (body.startswith("{") and body.endswith("}")):
            raise PatternError("a JSON filter pattern is enclosed in { }")
        self.tokens = _tokens(body[1:-1])
        self.position = 0
        self.tree = self._or()
        if self.position != len(self.tokens):
            raise PatternError(f"invalid filter pattern {pattern!r}")

    # Grammar: or := and ('||' and)* ; and := term ('&&' term)* ; term := '(' or ')' | selector op value
    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise PatternError("the filter pattern ends too early")
        self.position += 1
        return token

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._term()
        while self._peek() == ("op", "&&"):
            self._take()
            node = ("and", node, self._term())
        return node

    def _term(self) -> Any:
        kind, value = self._take()
        if (kind, value) == ("op", "("):
            node = self._or()
            if self._take() != ("op", ")"):
                raise PatternError("unbalanced parentheses in the filter pattern")
            return node
        if kind != "selector":
            raise PatternError(f"expected a $.selector, not {value!r}")
        operator_kind, operator = self._take()
        expected_kind, expected = self._take()
        if operator_kind != "op" or expected_kind not in ("quoted", "bare"):
            raise PatternError(f"invalid comparison after {value}")
        return ("compare", value, operator, expected, expected_kind == "quoted")

    def _evaluate(self, node: Any, document: Any) -> bool:
        if node[0] == "and":
            return self._evaluate(node[1], document) and self._evaluate(node[2], document)
        if node[0] == "or":
            return self._evaluate(node[1], document) or self._evaluate(node[2], document)
        _, selector, operator, expected, quoted = node
        return _compare(_select(document, selector), operator, expected, quoted)

    def matches(self, message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, dict) and self._evaluate(self.tree, document)


_moto_filter_init = moto_log_utils.EventMessageFilter.__init__


def _filter_init(self: Any, pattern: str) -> None:
    _moto_filter_init(self, pattern)
    if pattern and pattern.strip().startswith("{"):
        try:
            self.filter_type = JsonFilterPattern(pattern)
        except PatternError as exc:
            # AWS answers a pattern it cannot parse with InvalidParameterException.
            raise InvalidParameterException(msg=f"Invalid filter pattern: {exc}") from None


def install() -> None:
    """Let moto's FilterLogEvents evaluate JSON patterns (idempotent)."""
    moto_log_utils.EventMessageFilter.__init__ = _filter_init  # type: ignore[method-assign]

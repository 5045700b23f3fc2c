"""The regression gate: threshold rules over report.json, k6-style, parsed (never eval'd).

A rules file is plain text, one rule per line, `#` starts a comment:

    findings.missing == 0
    latency_ms.p99 < 500
    memory.slope_mib_per_min < 2
    latency_ms.p99 <= baseline * 1.2      # `baseline` = the same metric in the baseline report
    findings.reorder <= baseline.findings.reorder + 2

Grammar: `METRIC OP EXPR`; METRIC is a dotted path into report.json; OP is one of
== != < <= > >=; EXPR is arithmetic (+ - * / and parentheses) over numbers,
`true`/`false`, `baseline` and `baseline.<path>`. A metric that is null (not
measured) fails its rule; an unknown metric, a syntax error, or `baseline`
without a baseline report is bad input.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from visdom_chaos.reports.escape import term

# shipped with the package: rules files (e.g. rules/ci-stock.rules) and committed baselines
RULES_DIR = Path(__file__).resolve().parent / "rules"
BASELINES_DIR = Path(__file__).resolve().parent / "baselines"

DEFAULT_RULES = """\
# default gate: every transport invariant holds, memory is bounded, delivery is prompt
findings.duplicate == 0
findings.missing == 0
findings.reorder == 0
findings.stale == 0
findings.protocol_error == 0
findings.ghost_subscribers == 0
findings.wire_duplicate == 0
findings.wire_reorder == 0
findings.wire_gap == 0
findings.undecodable == 0
memory.growth_flagged == false
latency_ms.p99 < 1000
"""

# with --baseline and no --rules: nothing clearly worse than the baseline run (a zero stays zero;
# counts and latency of a chaos run vary from run to run, hence the slack)
DEFAULT_BASELINE_RULES = """\
findings.duplicate <= baseline * 1.5
findings.missing <= baseline * 1.5
findings.reorder <= baseline * 1.5
findings.stale <= baseline * 1.5
findings.protocol_error <= baseline * 1.5
findings.reload <= baseline * 1.5 + 5
findings.ghost_subscribers <= baseline
memory.growth_flagged == false
latency_ms.p99 <= baseline * 1.5 + 50
"""


class RuleError(ValueError):
    """A rules file or report that cannot be evaluated (bad input: exit 2)."""


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op>==|!=|<=|>=|<|>)|(?P<arith>[-+*/()]))"
)


@dataclass(frozen=True)
class Rule:
    text: str
    line: int
    metric: str
    op: str
    expr: tuple[tuple[str, str], ...]  # tokens of the right-hand side

    @property
    def uses_baseline(self) -> bool:
        return any(
            kind == "path" and (v == "baseline" or v.startswith("baseline."))
            for kind, v in self.expr
        )


@dataclass
class Outcome:
    rule: Rule
    value: Any
    limit: Any
    baseline: Any
    ok: bool
    why: str = ""
    untrusted: bool = False  # a timing figure measured by an observer without headroom: not judged


def untrusted_metric(report: dict[str, Any], metric: str) -> bool:
    """True where the report says the observer could not vouch for this figure (report `trust`)."""
    trust = report.get("trust")
    if not isinstance(trust, dict):
        trust = {}
    return any(
        metric == m or metric.startswith(m + ".") for m in trust.get("untrusted_metrics") or []
    )


def _tokens(text: str, line: int) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"rules line {line}: cannot read {text[pos:].strip()!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_rules(text: str) -> list[Rule]:
    rules = []
    for n, raw in enumerate(text.splitlines(), 1):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue
        toks = _tokens(body, n)
        if len(toks) < 3 or toks[0][0] != "path" or toks[1][0] != "op":
            raise RuleError(f"rules line {n}: expected 'METRIC OP EXPRESSION', got {body!r}")
        if toks[0][1] == "baseline" or toks[0][1].startswith("baseline."):
            raise RuleError(
                f"rules line {n}: the left side must be a metric of this run, not the baseline"
            )
        rule = Rule(body, n, toks[0][1], toks[1][1], tuple(toks[2:]))
        _Expr(rule.expr, n, lambda _p: 1.0).value()  # syntax check now, not at evaluation time
        rules.append(rule)
    if not rules:
        raise RuleError("rules: no rules (only comments or blank lines)")
    return rules


class _Expr:
    """Recursive descent over + - * / ( ) with numbers, booleans and baseline references."""

    def __init__(
        self, toks: tuple[tuple[str, str], ...], line: int, resolve: Callable[[str], Any]
    ) -> None:
        self.toks, self.i, self.line, self.resolve = toks, 0, line, resolve

    def _peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def value(self) -> Any:
        v = self._sum()
        if self._peek() is not None:
            raise RuleError(f"rules line {self.line}: unexpected {self._peek()[1]!r}")  # type: ignore[index]
        return v

    def _sum(self) -> Any:
        v = self._product()
        while (t := self._peek()) and (
            (t[0] == "arith" and t[1] in ("+", "-")) or (t[0] == "num" and t[1].startswith("-"))
        ):
            if t[0] == "num":  # "baseline -5" tokenises the minus into the number
                self.i += 1
                v = _arith(v, float(t[1]), "+", self.line)
                continue
            self.i += 1
            v = _arith(v, self._product(), t[1], self.line)
        return v

    def _product(self) -> Any:
        v = self._atom()
        while (t := self._peek()) and t[0] == "arith" and t[1] in "*/":
            self.i += 1
            v = _arith(v, self._atom(), t[1], self.line)
        return v

    def _atom(self) -> Any:
        t = self._peek()
        if t is None:
            raise RuleError(f"rules line {self.line}: expression ends too early")
        self.i += 1
        kind, text = t
        if kind == "num":
            return float(text)
        if kind == "arith" and text == "(":
            v = self._sum()
            if self._peek() != ("arith", ")"):
                raise RuleError(f"rules line {self.line}: missing ')'")
            self.i += 1
            return v
        if kind == "arith" and text == "-":
            return _arith(0.0, self._atom(), "-", self.line)
        if kind == "path":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if text == "baseline" or text.startswith("baseline."):
                return self.resolve(text)
        raise RuleError(f"rules line {self.line}: unexpected {text!r}")


def _arith(a: Any, b: Any, op: str, line: int) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        raise RuleError(f"rules line {line}: arithmetic on true/false")
    if op == "/" and b == 0:
        raise RuleError(f"rules line {line}: division by zero")
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0}[op]


_MISSING = object()


def lookup(report: dict[str, Any], path: str) -> Any:
    cur: Any = report
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


def evaluate(
    rules: list[Rule], report: dict[str, Any], baseline: dict[str, Any] | None = None
) -> list[Outcome]:
    out = []
    for rule in rules:
        value = lookup(report, rule.metric)
        if value is _MISSING:
            raise RuleError(f"rules line {rule.line}: report has no metric {rule.metric!r}")
        if rule.uses_baseline and baseline is None:
            raise RuleError(f"rules line {rule.line}: {rule.text!r} needs --baseline")
        base_value: Any = None

        def resolve(ref: str, rule: Rule = rule) -> Any:
            nonlocal base_value
            path = rule.metric if ref == "baseline" else ref[len("baseline.") :]
            v = lookup(baseline or {}, path)
            if v is _MISSING:
                raise RuleError(f"rules line {rule.line}: baseline has no metric {path!r}")
            if ref == "baseline" or base_value is None:
                base_value = v
            return v

        limit = _Expr(rule.expr, rule.line, resolve).value()
        if isinstance(value, dict | list):
            raise RuleError(f"rules line {rule.line}: {rule.metric!r} is not a single value")
        if untrusted_metric(report, rule.metric):
            out.append(
                Outcome(
                    rule,
                    value,
                    limit,
                    base_value,
                    False,
                    "cannot judge: observer lost headroom",
                    untrusted=True,
                )
            )
            continue
        if value is None or limit is None:
            out.append(Outcome(rule, value, limit, base_value, False, "not measured"))
            continue
        if isinstance(value, bool | str) or isinstance(limit, bool):
            if rule.op not in ("==", "!="):
                raise RuleError(f"rules line {rule.line}: cannot order {value!r} against {limit!r}")
        out.append(Outcome(rule, value, limit, base_value, bool(OPS[rule.op](value, limit))))
    return out


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def outcome_table(outcomes: list[Outcome], title: str = "visdom-chaos gate") -> Table:
    """`title` and the rules are text, not rich markup (a scenario name may hold brackets)."""
    table = Table(title=term(title))
    for col, just in (
        ("rule", "left"),
        ("value", "right"),
        ("limit", "right"),
        ("baseline", "right"),
        ("result", "left"),
    ):
        table.add_column(col, justify=just, no_wrap=col == "rule")  # type: ignore[arg-type]
    for o in outcomes:
        if o.untrusted:
            res = f"[yellow]cannot judge[/] ({term(o.why.split(': ', 1)[-1])})"
        else:
            res = (
                "[green]pass[/]"
                if o.ok
                else f"[bold red]FAIL[/]{' (' + term(o.why) + ')' if o.why else ''}"
            )
        base = term(_show(o.baseline)) if o.rule.uses_baseline else "–"
        table.add_row(
            term(o.rule.text),
            term(_show(o.value)),
            term(f"{o.rule.op} {_show(o.limit)}"),
            base,
            res,
        )
    return table

"""Run filters such as `params.C > 0.1 and metrics.acc >= 0.9`, parsed into SQL, never eval'd.

Grammar:
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field OP literal          OP: = == != < <= > >= like
    field      := (params|metrics|tags|attributes) "." name      name may be `quoted`
    literal    := number | 'text' | "text" | true | false | null
Attributes: name, status, user, host, started, ended, id, parent_id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import sqlalchemy as sa

from cairn.errors import FilterSyntaxError
from cairn.store import schema

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|==|!=|<|>|=)
    | (?P<paren>[()])
    | (?P<field>(?:params|metrics|tags|attributes|attr|param|metric|tag)\.(?:`[^`]+`|[\w.\-]+))
    | (?P<word>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
ATTRIBUTES = ("name", "status", "user", "host", "started", "ended", "id", "parent_id")
_SECTION = {"param": "params", "metric": "metrics", "tag": "tags", "attr": "attributes"}
_OPS = {"=": "==", "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterSyntaxError(_where(text, pos, "unexpected character"))
        kind = match.lastgroup or ""
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start))
        pos = match.end()
    return tokens


def parse_filter(text: str, latest: sa.FromClause | None = None) -> sa.ColumnElement[bool]:
    """The SQL condition on `runs` that `text` describes. `latest` (run_id, key, value) is
    where metric conditions look: the latest metrics now unless a time-travel view says."""
    parser = _Parser(text, tokenize(text), schema.latest_metrics if latest is None else latest)
    if not parser.tokens:
        raise FilterSyntaxError('the filter is empty; write e.g. "metrics.acc >= 0.9"')
    condition = parser.expr()
    if parser.i != len(parser.tokens):
        raise FilterSyntaxError(_where(text, parser.tokens[parser.i].pos, "unexpected text"))
    return condition


class _Parser:
    def __init__(self, text: str, tokens: list[Token], latest: sa.FromClause) -> None:
        self.text = text
        self.tokens = tokens
        self.latest = latest
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError(f"bad filter: {self.text!r} ends too soon")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token.kind == "word" and token.text.lower() == word:
            self.i += 1
            return True
        return False

    def expr(self) -> sa.ColumnElement[bool]:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def and_expr(self) -> sa.ColumnElement[bool]:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    def not_expr(self) -> sa.ColumnElement[bool]:
        if self.keyword("not"):
            return sa.not_(self.not_expr())
        token = self.peek()
        if token and token.kind == "paren" and token.text == "(":
            self.i += 1
            inner = self.expr()
            closing = self.take()
            if closing.text != ")":
                raise FilterSyntaxError(_where(self.text, closing.pos, "expected ')'"))
            return inner
        return self.comparison()

    def comparison(self) -> sa.ColumnElement[bool]:
        field = self.take()
        if field.kind != "field":
            raise FilterSyntaxError(
                _where(
                    self.text,
                    field.pos,
                    "expected a field: params.C, metrics.acc, tags.team, attributes.status",
                )
            )
        op_token = self.take()
        if op_token.kind == "op":
            op = _OPS[op_token.text]
        elif op_token.kind == "word" and op_token.text.lower() == "like":
            op = "like"
        else:
            raise FilterSyntaxError(
                _where(self.text, op_token.pos, "expected =, !=, <, <=, >, >= or like")
            )
        literal = self.literal()
        section, name = field.text.split(".", 1)
        section = _SECTION.get(section, section)
        return _condition(section, name.strip("`"), op, literal, self.text, field.pos, self.latest)

    def literal(self) -> object:
        token = self.take()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "word" and token.text.lower() in ("true", "false", "null", "none"):
            return {"true": True, "false": False}.get(token.text.lower())
        raise FilterSyntaxError(
            _where(self.text, token.pos, "expected a number or a 'quoted' value")
        )


def _compare(column: sa.ColumnElement, op: str, value: object) -> sa.ColumnElement[bool]:
    if op == "like":
        return column.like(value)
    return {
        "==": column == value,
        "!=": column != value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[op]


def _condition(
    section: str, name: str, op: str, value: object, text: str, pos: int, latest: sa.FromClause
) -> sa.ColumnElement[bool]:
    runs = schema.runs
    if section == "attributes":
        if name not in ATTRIBUTES:
            raise FilterSyntaxError(_where(text, pos, f"attributes are {', '.join(ATTRIBUTES)}"))
        return _compare(runs.c[name], op, value)
    if section == "metrics":
        if not isinstance(value, float):
            raise FilterSyntaxError(_where(text, pos, "metrics compare with numbers"))
        table = latest
        column = table.c.value
    elif section == "params":
        table = schema.params
        if isinstance(value, float):
            column = table.c.num
        elif op in ("==", "!=") and value is not None:
            column, value = table.c.value, json.dumps(value)
        elif op == "like":
            column = table.c.value
            value = f'"{value}"'
        else:
            raise FilterSyntaxError(_where(text, pos, "text params compare with = or !="))
    else:
        table = schema.tags
        column = table.c.value
        if isinstance(value, float):  # tags are text: 3 was stored as "3", not "3.0"
            value = str(int(value)) if value.is_integer() else str(value)
    # Like MLflow, a condition on a key only holds for runs that have that key.
    return _exists(table, name, _compare(column, op, value))


def _exists(
    table: sa.Table, name: str, condition: sa.ColumnElement[bool]
) -> sa.ColumnElement[bool]:
    return sa.exists().where(table.c.run_id == schema.runs.c.id, table.c.key == name, condition)


def _where(text: str, pos: int, message: str) -> str:
    return f"bad filter: {message} at position {pos}:\n  {text}\n  {' ' * pos}^"

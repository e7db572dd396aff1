"""Run filters such as `params.C > 0.1 and metrics.acc >= 0.9`, and orderings such as
`metrics.acc desc`, parsed into SQL, never eval'd.

Grammar:
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field OP literal          OP: = == != < <= > >= like
    field      := (params|metrics|tags|attributes) "." name   name may be `quoted` or "quoted"
    literal    := number | 'text' | "text" | true | false | null
    order      := field ["asc" | "desc"]

What each field takes; anything else is a FilterSyntaxError that says this, never a guess:
    metrics.X   a number with = != < <= > >= (against the latest value; NaN satisfies none)
    params.X    a number with = != < <= > >= (numeric params); 'text' with = != like (against
                the param's text: a string's own text, any other value's JSON); true or false
                with = !=
    tags.X      'text' with = != like; a number stands for its text as written
    attributes  name, user, host, id, parent_id: 'text' with = != like (ids in any case);
                status: = != one of the run statuses, in any case; started, ended: epoch
                seconds with = != < <= > >=; null with = != asks whether the value is missing
A condition on a param, metric or tag holds only for runs that have it (as in MLflow).
`like`: % matches any run of characters, _ one character, \\ makes the next one literal;
it tells upper from lower case on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from cairn.errors import FilterSyntaxError
from cairn.states import RunStatus
from cairn.store import schema

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|==|!=|<|>|=)
    | (?P<paren>[()])
    | (?P<field>[A-Za-z_]\w*\.(?:`[^`]*`|"[^"]*"|[\w.\-]+))
    | (?P<word>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
_SECTION = {
    **dict.fromkeys(("params", "param"), "params"),
    **dict.fromkeys(("metrics", "metric"), "metrics"),
    **dict.fromkeys(("tags", "tag"), "tags"),
    **dict.fromkeys(("attributes", "attribute", "attr"), "attributes"),
}
ID_ATTRIBUTES = ("id", "parent_id")  # ULIDs: stored upper case, accepted in any case
TIME_ATTRIBUTES = ("started", "ended")
ATTRIBUTES = ("name", "status", "user", "host", "started", "ended", "id", "parent_id")
_FIELDS = "params.X, metrics.X, tags.X or attributes.X (" + ", ".join(ATTRIBUTES) + ")"
_EQUALITY = ("==", "!=")
_NUMERIC = ("==", "!=", "<", "<=", ">", ">=")
_TEXT = ("==", "!=", "like")
_TAKES = {
    "metrics": "a number with =, !=, <, <=, >, >=",
    "params": "a number with =, !=, <, <=, >, >=; 'text' with =, !=, like; true or false "
    "with =, !=",
    "tags": "'text' with =, !=, like",
    "time": "a number (epoch seconds) with =, !=, <, <=, >, >=, or null with =, !=",
    "id": "'text' (any case) with =, !=, like, or null with =, !=",
    "text": "'text' with =, !=, like, or null with =, !=",
    "status": "one of " + ", ".join(s.value for s in RunStatus) + " (any case) with =, !=",
}
_UNSUPPORTED_WORDS = {
    "ilike": "ilike is not supported yet; like is case-sensitive",
    "in": "in (...) is not supported yet; join = conditions with or",
    "is": "is null / is not null is not supported yet; attributes take = null and != null",
}


@dataclass(frozen=True)
class Field:
    section: str  # params, metrics, tags or attributes
    name: str
    pos: int

    def __str__(self) -> str:
        return f"{self.section}.{self.name}"


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool


@dataclass(frozen=True)
class _Literal:
    value: float | str | bool | None
    text: str  # as written: a number compared with a tag is its text
    pos: int


@dataclass
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str, what: str = "filter") -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterSyntaxError(_where(text, pos, "unexpected character", what))
        kind = match.lastgroup or ""
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start))
        pos = match.end()
    return tokens


def parse_filter(
    text: str,
    *,
    dialect: str,
    latest: sa.FromClause | None = None,
    attributes: dict[str, sa.ColumnElement] | None = None,
) -> sa.ColumnElement[bool]:
    """The SQL condition on `runs` that `text` describes, for a database of `dialect`.

    `latest` (run_id, key, value) is where metric conditions look: the latest metrics unless
    a time-travel view says otherwise; `attributes` maps attribute names to the columns to
    compare (a derived status, say), the `runs` columns by default."""
    parser = _Parser(
        text,
        dialect,
        schema.latest_metrics if latest is None else latest,
        attributes or {name: schema.runs.c[name] for name in ATTRIBUTES},
    )
    if not parser.tokens:
        raise FilterSyntaxError('the filter is empty; write e.g. "metrics.acc >= 0.9"')
    condition = parser.expr()
    if parser.i != len(parser.tokens):
        raise FilterSyntaxError(_where(text, parser.tokens[parser.i].pos, "unexpected text"))
    return condition


def parse_order(text: str) -> OrderKey:
    """`metrics.acc desc`, `params."my param"`, `attributes.started asc`."""
    tokens = tokenize(text, "order_by")
    usage = "write e.g. 'metrics.acc desc'"
    if not tokens or tokens[0].kind != "field":
        raise FilterSyntaxError(f"bad order_by {text!r}: {usage}")
    field = _field(text, tokens[0], "order_by")
    if len(tokens) > 2 or (
        len(tokens) == 2
        and (tokens[1].kind != "word" or tokens[1].text.lower() not in ("asc", "desc"))
    ):
        raise FilterSyntaxError(
            _where(text, tokens[1].pos, f"the direction is asc or desc; {usage}", "order_by")
        )
    descending = len(tokens) == 2 and tokens[1].text.lower() == "desc"
    return OrderKey(field, descending)


def like(column: sa.ColumnElement[str], pattern: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column` matches the like `pattern`, upper and lower case told apart on both databases
    (SQLite's LIKE ignores case, so there it becomes a GLOB)."""
    parts = _like_parts(pattern)
    if dialect == "sqlite":
        glob = "".join(
            {"%": "*", "_": "?"}.get(kind) or re.sub(r"([*?\[])", r"[\1]", text)
            for kind, text in parts
        )
        return column.op("GLOB", is_comparison=True)(glob)
    escaped = "".join(kind or re.sub(r"([%_\\])", r"\\\1", text) for kind, text in parts)
    return column.like(escaped, escape="\\")


def param_text(params: sa.FromClause, dialect: str) -> sa.ColumnElement[str]:
    """A param's text: a string's own characters, any other value's stored JSON."""
    value = params.c.value
    if dialect == "sqlite":
        decoded = sa.func.json_extract(value, "$", type_=sa.Text)
    else:
        root = sa.cast(sa.literal([], postgresql.ARRAY(sa.Text)), postgresql.ARRAY(sa.Text))
        decoded = sa.cast(value, postgresql.JSONB).op("#>>", return_type=sa.Text)(root)
    return sa.case((sa.func.substr(value, 1, 1) == '"', decoded), else_=value)


def text_order(column: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[str]:
    """`column` compared by code point, as SQLite does, whatever PostgreSQL's collation."""
    return column if dialect == "sqlite" else sa.collate(column, "C")


def is_number(value: sa.ColumnElement[float]) -> sa.ColumnElement[bool]:
    """False for NaN (NULL on SQLite, NaN on PostgreSQL, where it exceeds every number)."""
    return value <= math.inf


class _Parser:
    def __init__(
        self,
        text: str,
        dialect: str,
        latest: sa.FromClause,
        attributes: dict[str, sa.ColumnElement],
    ) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.dialect = dialect
        self.latest = latest
        self.attributes = attributes
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
        token = self.take()
        if token.kind != "field":
            raise FilterSyntaxError(_where(self.text, token.pos, f"expected a field: {_FIELDS}"))
        field = _field(self.text, token)
        op_token = self.take()
        word = op_token.text.lower()
        if op_token.kind == "op":
            op = "==" if op_token.text == "=" else op_token.text
        elif op_token.kind == "word" and word == "like":
            op = "like"
        elif op_token.kind == "word" and word in _UNSUPPORTED_WORDS:
            raise FilterSyntaxError(_where(self.text, op_token.pos, _UNSUPPORTED_WORDS[word]))
        else:
            raise FilterSyntaxError(
                _where(self.text, op_token.pos, "expected =, !=, <, <=, >, >= or like")
            )
        literal = self.literal()
        return _Condition(self, field, op, literal).build()

    def literal(self) -> _Literal:
        token = self.take()
        if token.kind == "number":
            return _Literal(float(token.text), token.text, token.pos)
        if token.kind == "string":
            # Only the quote and the backslash are escaped, so a like pattern keeps its \_.
            value = re.sub(r"\\([\\'\"])", r"\1", token.text[1:-1])
            return _Literal(value, value, token.pos)
        if token.kind == "word" and token.text.lower() in ("true", "false", "null", "none"):
            value = {"true": True, "false": False}.get(token.text.lower())
            return _Literal(value, token.text, token.pos)
        raise FilterSyntaxError(
            _where(self.text, token.pos, "expected a number or a 'quoted' value")
        )


class _Condition:
    """One `field OP literal`, checked against what the field takes, as SQL."""

    def __init__(self, parser: _Parser, field: Field, op: str, literal: _Literal) -> None:
        self.parser = parser
        self.field = field
        self.op = op
        self.literal = literal

    def build(self) -> sa.ColumnElement[bool]:
        if self.field.section == "attributes":
            return self._attribute()
        return getattr(self, f"_{self.field.section}")()

    def _metrics(self) -> sa.ColumnElement[bool]:
        self._expect(float, _NUMERIC, _TAKES["metrics"])
        value = self.parser.latest.c.value
        condition = sa.and_(is_number(value), self._compare(value, self.literal.value))
        return self._exists(self.parser.latest, condition)

    def _params(self) -> sa.ColumnElement[bool]:
        params, value = schema.params, self.literal.value
        if isinstance(value, bool):
            self._expect(bool, _EQUALITY, _TAKES["params"])
            return self._exists(params, self._compare(params.c.value, json.dumps(value)))
        if isinstance(value, float):
            return self._exists(params, self._compare(params.c.num, value))
        self._expect(str, _TEXT, _TAKES["params"])
        return self._exists(params, self._compare(param_text(params, self.parser.dialect), value))

    def _tags(self) -> sa.ColumnElement[bool]:
        if isinstance(self.literal.value, float):  # tags are text: 1.0 stands for "1.0"
            self.literal = _Literal(self.literal.text, self.literal.text, self.literal.pos)
        self._expect(str, _TEXT, _TAKES["tags"])
        return self._exists(schema.tags, self._compare(schema.tags.c.value, self.literal.value))

    def _attribute(self) -> sa.ColumnElement[bool]:
        name, value = self.field.name, self.literal.value
        column = self.parser.attributes[name]
        kind = _attribute_kind(name)
        if value is None:
            self._expect(type(None), _EQUALITY, _TAKES[kind])
            return column.is_(None) if self.op == "==" else column.is_not(None)
        if kind == "time":
            self._expect(float, _NUMERIC, _TAKES[kind])
            return self._compare(column, value)
        self._expect(str, _EQUALITY if kind == "status" else _TEXT, _TAKES[kind])
        if kind == "status":
            try:
                value = RunStatus(value.lower()).value  # stored in lower case, asked in any
            except ValueError:
                self._fail(
                    f"no run status {value!r}; {self.field} takes {_TAKES[kind]}", self.literal.pos
                )
        elif kind == "id":
            value = value.upper()
        return self._compare(column, value)

    def _expect(self, kind: type, ops: tuple[str, ...], takes: str) -> None:
        """Refuse a literal or an operator the field does not take, saying what it takes."""
        if type(self.literal.value) is not kind:
            self._fail(f"{self.field} takes {takes}", self.literal.pos)
        if self.op not in ops:
            self._fail(f"{self.field} takes {takes}; {self.op} does not apply")

    def _compare(self, column: sa.ColumnElement, value: object) -> sa.ColumnElement[bool]:
        if self.op == "like":
            return like(column, str(value), self.parser.dialect)
        return {
            "==": column == value,
            "!=": column != value,
            "<": column < value,
            "<=": column <= value,
            ">": column > value,
            ">=": column >= value,
        }[self.op]

    def _exists(
        self, table: sa.FromClause, condition: sa.ColumnElement[bool]
    ) -> sa.ColumnElement[bool]:
        # Like MLflow, a condition on a key only holds for runs that have that key.
        return sa.exists().where(
            table.c.run_id == schema.runs.c.id, table.c.key == self.field.name, condition
        )

    def _fail(self, message: str, pos: int | None = None) -> NoReturn:
        raise FilterSyntaxError(
            _where(self.parser.text, self.field.pos if pos is None else pos, message)
        )


def _attribute_kind(name: str) -> str:
    if name in TIME_ATTRIBUTES:
        return "time"
    if name in ID_ATTRIBUTES:
        return "id"
    return "status" if name == "status" else "text"


def _field(text: str, token: Token, what: str = "filter") -> Field:
    section, name = token.text.split(".", 1)
    if section.lower() not in _SECTION:
        raise FilterSyntaxError(
            _where(text, token.pos, f"no field {section}.*; fields are {_FIELDS}", what)
        )
    if name[:1] in '`"' and len(name) >= 2 and name[-1] == name[0]:
        name = name[1:-1]
    if not name:
        raise FilterSyntaxError(_where(text, token.pos, "the name after the dot is empty", what))
    section = _SECTION[section.lower()]
    if section == "attributes" and name not in ATTRIBUTES:
        raise FilterSyntaxError(
            _where(text, token.pos, f"attributes are {', '.join(ATTRIBUTES)}", what)
        )
    return Field(section, name, token.pos)


def _like_parts(pattern: str) -> list[tuple[str, str]]:
    """("%", ""), ("_", "") and ("", literal text) pieces of a like pattern."""
    parts: list[tuple[str, str]] = []
    literal, chars = [], iter(pattern)
    for char in chars:
        if char in "%_":
            parts.append(("", "".join(literal)))
            parts.append((char, ""))
            literal = []
        elif char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise FilterSyntaxError(
                    f"bad like pattern {pattern!r}: it ends with \\, which escapes nothing"
                )
            literal.append(escaped)
        else:
            literal.append(char)
    parts.append(("", "".join(literal)))
    return [(kind, text) for kind, text in parts if kind or text]


def _where(text: str, pos: int, message: str, what: str = "filter") -> str:
    return f"bad {what}: {message} at position {pos}:\n  {text}\n  {' ' * pos}^"

"""Run filters such as `params.C > 0.1 and metrics.acc >= 0.9`, and orderings such as
`metrics.acc desc`, parsed into SQL, never eval'd. The language is MLflow's whole search
language, plus cairn's extensions: or, parentheses, not, numbers compared with numeric params
and tags, in lists and is null on more fields.

Grammar:
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field OP literal                OP: = == != < <= > >= like ilike
                | field ["not"] "in" "(" literal ("," literal)* ")"
                | field "is" ["not"] "null"
    field      := [section "."] name               no section: an attribute, as in MLflow
    section    := params | metrics | tags | attributes | datasets, or an MLflow spelling
                  (param, parameter(s), metric, tag, attribute, attr, run, dataset); it may be
                  quoted with `backticks`, and the name with `backticks` or "double quotes"
    literal    := number | 'text' | "text" | true | false | null
    order      := field ["asc" | "desc"]

What each field takes; anything else is a FilterSyntaxError that says this, never a guess:
    metrics.X   a number with = != < <= > >= in (against the latest value; NaN satisfies none)
    params.X    a number with = != < <= > >= in (numeric params); 'text' with = != like ilike
                in (against the param's text as MLflow logs it, str(value): a string's own
                text, True, False, None, a number's repr; lists and dicts as their JSON); true
                or false with = !=
    tags.X      'text' with = != like ilike in; a number stands for its text as written
    params.X, metrics.X, tags.X  is null / is not null: whether the run has the key
    attributes  name (run_name), user (user_id), host, id (run_id), parent_id, artifact_uri:
                'text' with = != like ilike in (ids in any case; artifact_uri is runs:/ID);
                status: = != in with run statuses in any case; started, ended: epoch seconds,
                start_time (created), end_time: epoch milliseconds as MLflow's, with
                = != < <= > >= in; = null, != null, is null, is not null: a missing value
    datasets    name, digest: 'text' with = != like ilike in, against the dataset versions
                the run used (lineage `used` edges to artifacts of a dataset kind)
A condition on a param, metric, tag or dataset holds only for runs that have it (as in MLflow),
`!=` and `not in` included. `like` is case-sensitive and `ilike` folds ASCII letters only, on
SQLite and PostgreSQL alike: % matches any run of characters, _ one, \\ makes the next literal.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from cairn.errors import FilterSyntaxError
from cairn.states import RunStatus
from cairn.store import schema
from cairn.store.nodes import NodeKind, Relation, artifact_node_sql

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|==|!=|<|>|=)
    | (?P<paren>[()])
    | (?P<comma>,)
    | (?P<field>(?:`[^`]*`|[A-Za-z_]\w*)\.(?:`[^`]*`|"[^"]*"|[\w.\-]+))
    | (?P<quoted>`[^`]*`)
    | (?P<word>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
_NAMES = ("field", "word", "quoted")  # the tokens that can name a field
_KEYWORDS = {"and", "or", "not", "like", "ilike", "in", "is", "null", "none", "true", "false"}
_UNEXPECTED = {
    ";": "join conditions with and / or",
    "&": "write and",
    "|": "write or",
    "'": "this quote is never closed",
    '"': "this quote is never closed",
    "`": "this backtick is never closed",
}
_SECTION = {
    **dict.fromkeys(("params", "param", "parameters", "parameter"), "params"),
    **dict.fromkeys(("metrics", "metric"), "metrics"),
    **dict.fromkeys(("tags", "tag"), "tags"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attributes"),
    **dict.fromkeys(("datasets", "dataset"), "datasets"),
}
# cairn.datasets.versions.KINDS: tracking sits below datasets, so it cannot import them.
DATASET_KINDS = ("dataset", "fileset")
DATASET_FIELDS = ("name", "digest")
# What cairn has closest to MLflow's artifact_uri: a run's artifacts are blobs of the
# workspace, named through the run, so a run's artifact location is this prefix and its id.
ARTIFACT_URI_PREFIX = "runs:/"


class Op(Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "like"
    ILIKE = "ilike"
    IN = "in"
    NOT_IN = "not in"
    IS_NULL = "is null"
    IS_NOT_NULL = "is not null"


_SYMBOLS = {"=": Op.EQ, "==": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_EQUALITY = (Op.EQ, Op.NE)
_CHOICE = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN)
_NUMERIC = (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.IN, Op.NOT_IN)
_TEXT = (Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.IN, Op.NOT_IN)
_PRESENCE = (Op.IS_NULL, Op.IS_NOT_NULL)


class _Kind(Enum):
    """What an attribute holds, which decides what it takes."""

    TEXT = "text"
    ID = "id"
    URI = "uri"
    STATUS = "status"
    SECONDS = "seconds"
    MILLIS = "millis"


@dataclass(frozen=True)
class _Attribute:
    column: str  # the column of `runs` it reads
    kind: _Kind


_ATTRIBUTES = {
    "name": _Attribute("name", _Kind.TEXT),
    "status": _Attribute("status", _Kind.STATUS),
    "user": _Attribute("user", _Kind.TEXT),
    "host": _Attribute("host", _Kind.TEXT),
    "started": _Attribute("started", _Kind.SECONDS),
    "ended": _Attribute("ended", _Kind.SECONDS),
    "id": _Attribute("id", _Kind.ID),
    "parent_id": _Attribute("parent_id", _Kind.ID),
    # MLflow's names for the same columns; its times are epoch milliseconds.
    "run_name": _Attribute("name", _Kind.TEXT),
    "run_id": _Attribute("id", _Kind.ID),
    "user_id": _Attribute("user", _Kind.TEXT),
    "start_time": _Attribute("started", _Kind.MILLIS),
    "end_time": _Attribute("ended", _Kind.MILLIS),
    "artifact_uri": _Attribute("id", _Kind.URI),
}
_ATTRIBUTE_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}
# The columns of `runs` that attributes read (a reader may map them to derived values).
ATTRIBUTES = ("name", "status", "user", "host", "started", "ended", "id", "parent_id")
_ATTRIBUTE_LIST = ", ".join([*_ATTRIBUTES, "created"])
_FIELDS = (
    f"params.X, metrics.X, tags.X, attributes.X ({_ATTRIBUTE_LIST}), datasets.name or "
    "datasets.digest"
)
_NOT_IN_CAIRN = {
    "experiment_id": "search_runs(experiment=...) chooses the experiment",
    "lifecycle_stage": "cairn deletes no runs, so there is no lifecycle stage to ask about",
    "context": "cairn records no context for the datasets a run used",
}
_PRESENCE_TAKES = "; is null / is not null ask whether the run has the key"
_TAKES = {
    "metrics": "a number with =, !=, <, <=, >, >=, in, not in" + _PRESENCE_TAKES,
    "params": "a number with =, !=, <, <=, >, >=, in, not in; 'text' with =, !=, like, ilike, "
    "in, not in; true or false with =, !=" + _PRESENCE_TAKES,
    "tags": "'text' with =, !=, like, ilike, in, not in" + _PRESENCE_TAKES,
    "datasets": "'text' with =, !=, like, ilike, in, not in",
    _Kind.TEXT: "'text' with =, !=, like, ilike, in, not in, or null with =, !=, is",
    _Kind.ID: "'text' (any case) with =, !=, like, ilike, in, not in, or null with =, !=, is",
    _Kind.URI: f"'text' ({ARTIFACT_URI_PREFIX}RUN_ID) with =, !=, like, ilike, in, not in",
    _Kind.STATUS: "one of " + ", ".join(s.value for s in RunStatus) + " (any case) with =, !=, "
    "in, not in",
    _Kind.SECONDS: "a number (epoch seconds) with =, !=, <, <=, >, >=, in, not in, or null "
    "with =, !=, is",
    _Kind.MILLIS: "a number (epoch milliseconds, as in MLflow) with =, !=, <, <=, >, >=, in, "
    "not in, or null with =, !=, is",
}
_NULLABLE = (_Kind.TEXT, _Kind.ID, _Kind.SECONDS, _Kind.MILLIS)
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_UPPER.lower())
# How MLflow, which logs str(value), writes the values whose JSON differs from it.
_PYTHON_TEXT = {
    "true": "True",
    "false": "False",
    "null": "None",
    "NaN": "nan",
    "Infinity": "inf",
    "-Infinity": "-inf",
}


@dataclass(frozen=True)
class Field:
    section: str  # params, metrics, tags, attributes or datasets
    name: str  # for attributes, the name without aliases (created: start_time)
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
            pos += len(text[pos:]) - len(text[pos:].lstrip())
            hint = _UNEXPECTED.get(text[pos], "")
            message = f"unexpected character{'; ' + hint if hint else ''}"
            raise FilterSyntaxError(_where(text, pos, message, what))
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
    attributes: Mapping[str, sa.ColumnElement] | None = None,
) -> sa.ColumnElement[bool]:
    """The SQL condition on `runs` that `text` describes, for a database of `dialect`.

    `latest` (run_id, key, value) is where metric conditions look: the latest metrics unless
    a time-travel view says otherwise; `attributes` maps the columns in ATTRIBUTES to what
    to compare (a derived status, say), the `runs` columns by default."""
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
    """`metrics.acc desc`, `params."my param"`, `attributes.started asc`, `start_time`."""
    tokens = tokenize(text, "order_by")
    usage = "write e.g. 'metrics.acc desc'"
    if not tokens or tokens[0].kind not in _NAMES or tokens[0].text.lower() in _KEYWORDS:
        raise FilterSyntaxError(f"bad order_by {text!r}: {usage}")
    field = _field(text, tokens[0], "order_by")
    if field.section == "datasets":
        message = "datasets cannot order runs: a run may use many dataset versions"
        raise FilterSyntaxError(_where(text, field.pos, message, "order_by"))
    if len(tokens) > 2 or (
        len(tokens) == 2
        and (tokens[1].kind != "word" or tokens[1].text.lower() not in ("asc", "desc"))
    ):
        raise FilterSyntaxError(
            _where(text, tokens[1].pos, f"the direction is asc or desc; {usage}", "order_by")
        )
    descending = len(tokens) == 2 and tokens[1].text.lower() == "desc"
    return OrderKey(field, descending)


def attribute_value(
    name: str, columns: Mapping[str, sa.ColumnElement], dialect: str
) -> sa.ColumnElement:
    """What attribute `name` (after aliases) compares: its column, MLflow's times in epoch
    milliseconds (truncated, as `int(seconds * 1000)`), artifact_uri as runs:/ID."""
    attribute = _ATTRIBUTES[name]
    column = columns[attribute.column]
    if attribute.kind is _Kind.MILLIS:
        scaled = column * 1000
        if dialect == "sqlite":
            return sa.cast(scaled, sa.BigInteger)  # SQLite truncates a REAL cast to INTEGER
        return sa.cast(sa.func.floor(scaled), sa.BigInteger)  # PostgreSQL would round
    if attribute.kind is _Kind.URI:
        return sa.literal(ARTIFACT_URI_PREFIX) + column
    return column


def attribute_order(
    name: str, columns: Mapping[str, sa.ColumnElement], dialect: str
) -> sa.ColumnElement:
    """What attribute `name` sorts by: times by their value, text by code point."""
    attribute = _ATTRIBUTES[name]
    if attribute.kind in (_Kind.SECONDS, _Kind.MILLIS):
        return columns[attribute.column]
    return text_order(attribute_value(name, columns, dialect), dialect)


def like(
    column: sa.ColumnElement[str], pattern: str, dialect: str, *, ignore_case: bool = False
) -> sa.ColumnElement[bool]:
    """`column` matches the like `pattern`, upper and lower case told apart on both databases
    (SQLite's LIKE ignores case, so there it becomes a GLOB), or, with `ignore_case`, ASCII
    letters folded on both (what SQLite's own LIKE folds, and no more)."""
    if ignore_case:
        column, pattern = _ascii_lower(column, dialect), pattern.translate(_ASCII_LOWER)
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
    """A param's text as MLflow would have logged it, str(value): a string's own characters,
    True, False, None, nan, inf, a number's repr (its JSON); lists and dicts as their JSON."""
    value = params.c.value
    if dialect == "sqlite":
        decoded = sa.func.json_extract(value, "$", type_=sa.Text)
    else:
        root = sa.cast(sa.literal([], postgresql.ARRAY(sa.Text)), postgresql.ARRAY(sa.Text))
        decoded = sa.cast(value, postgresql.JSONB).op("#>>", return_type=sa.Text)(root)
    return sa.case(
        (sa.func.substr(value, 1, 1) == '"', decoded),
        *((value == json_text, text) for json_text, text in _PYTHON_TEXT.items()),
        else_=value,
    )


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
        attributes: Mapping[str, sa.ColumnElement],
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

    def fail(self, pos: int, message: str) -> NoReturn:
        raise FilterSyntaxError(_where(self.text, pos, message))

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
                self.fail(closing.pos, "expected ')'")
            return inner
        return self.comparison()

    def comparison(self) -> sa.ColumnElement[bool]:
        token = self.take()
        if token.kind not in _NAMES or token.text.lower() in _KEYWORDS:
            self.fail(token.pos, f"expected a field: {_FIELDS}")
        field = _field(self.text, token)
        op = self.operator()
        if op in _PRESENCE:
            literals = []
        elif op in (Op.IN, Op.NOT_IN):
            literals = self.in_list()
        else:
            literals = [self.literal()]
        return _Condition(self, field, op, literals).build()

    def operator(self) -> Op:
        token = self.take()
        word = token.text.lower() if token.kind == "word" else ""
        if token.kind == "op":
            return _SYMBOLS[token.text]
        if word in ("like", "ilike", "in"):
            return Op(word)
        if word == "not":
            following = self.take()
            if following.kind == "word" and following.text.lower() == "in":
                return Op.NOT_IN
            self.fail(
                following.pos,
                "only in follows not here (not in); to negate a comparison, put not before "
                "it: not params.x like 'a%'",
            )
        if word == "is":
            negated = self.keyword("not")
            following = self.take()
            if following.kind == "word" and following.text.lower() in ("null", "none"):
                return Op.IS_NOT_NULL if negated else Op.IS_NULL
            self.fail(
                following.pos, "is takes null (is null, is not null); to compare a value, use ="
            )
        self.fail(
            token.pos,
            "expected =, !=, <, <=, >, >=, like, ilike, in, not in, is null or is not null",
        )

    def in_list(self) -> list[_Literal]:
        opening = self.take()
        if opening.text != "(":
            self.fail(opening.pos, "in takes a list in parentheses: in ('a', 'b')")
        literals = [self.literal()]
        closing = self.take()
        while closing.kind == "comma":
            literals.append(self.literal())
            closing = self.take()
        if closing.text != ")":
            self.fail(closing.pos, "expected , or ) in the in list")
        if any(literal.value is None for literal in literals):
            self.fail(opening.pos, "null is not a value an in list holds; ask with is null")
        return literals

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
        message = "expected a number or a 'quoted' value"
        if token.kind == "quoted":
            message += "; `backticks` quote names, ' or \" quote values"
        elif token.kind == "word":
            message += f"; to compare with the text {token.text}, write '{token.text}'"
        self.fail(token.pos, message)


class _Condition:
    """One `field OP literal(s)`, checked against what the field takes, as SQL."""

    def __init__(self, parser: _Parser, field: Field, op: Op, literals: list[_Literal]) -> None:
        self.parser = parser
        self.field = field
        self.op = op
        self.literals = literals

    def build(self) -> sa.ColumnElement[bool]:
        return getattr(self, f"_{self.field.section}")()

    def _metrics(self) -> sa.ColumnElement[bool]:
        latest = self.parser.latest
        if self.op in _PRESENCE:
            return self._exists(latest)
        self._expect(float, _NUMERIC, _TAKES["metrics"])
        value = latest.c.value
        return self._exists(latest, is_number(value), self._compare(value, self._values()))

    def _params(self) -> sa.ColumnElement[bool]:
        params = schema.params
        if self.op in _PRESENCE:
            return self._exists(params)
        kinds = {type(literal.value) for literal in self.literals}
        if kinds == {bool}:
            self._expect(bool, _EQUALITY, _TAKES["params"])
            return self._exists(params, self._compare(params.c.value, self._values(json.dumps)))
        if kinds == {float}:
            self._expect(float, _NUMERIC, _TAKES["params"])
            return self._exists(params, self._compare(params.c.num, self._values()))
        self._expect(str, _TEXT, _TAKES["params"])
        text = param_text(params, self.parser.dialect)
        return self._exists(params, self._compare(text, self._values()))

    def _tags(self) -> sa.ColumnElement[bool]:
        tags = schema.tags
        if self.op in _PRESENCE:
            return self._exists(tags)
        self.literals = [  # tags are text: 1.0 stands for "1.0"
            _Literal(lit.text, lit.text, lit.pos) if isinstance(lit.value, float) else lit
            for lit in self.literals
        ]
        self._expect(str, _TEXT, _TAKES["tags"])
        return self._exists(tags, self._compare(tags.c.value, self._values()))

    def _attributes(self) -> sa.ColumnElement[bool]:
        attribute = _ATTRIBUTES[self.field.name]
        takes = _TAKES[attribute.kind]
        column = attribute_value(self.field.name, self.parser.attributes, self.parser.dialect)
        if self.op in _PRESENCE or (self.literals and self.literals[0].value is None):
            if attribute.kind not in _NULLABLE:
                self._fail(f"{self.field} takes {takes}")
            self._expect(type(None), (*_EQUALITY, *_PRESENCE), takes)
            return column.is_(None) if self.op in (Op.EQ, Op.IS_NULL) else column.is_not(None)
        if attribute.kind in (_Kind.SECONDS, _Kind.MILLIS):
            self._expect(float, _NUMERIC, takes)
            return self._compare(column, self._values())
        self._expect(str, _CHOICE if attribute.kind is _Kind.STATUS else _TEXT, takes)
        if attribute.kind is _Kind.STATUS:
            return self._compare(column, [self._status(literal) for literal in self.literals])
        if attribute.kind is _Kind.ID:
            return self._compare(column, self._values(str.upper))  # stored in upper case
        return self._compare(column, self._values())

    def _datasets(self) -> sa.ColumnElement[bool]:
        self._expect(str, _TEXT, _TAKES["datasets"])
        artifacts, edges = schema.artifacts, schema.lineage_edges
        column, values = artifacts.c.name, self._values()
        if self.field.name == "digest":  # hex digests, asked in any case
            column, values = artifacts.c.digest, self._values(str.lower)
        return sa.exists().where(
            edges.c.src == sa.literal(f"{NodeKind.RUN.value}:") + schema.runs.c.id,
            edges.c.relation == Relation.USED.value,
            edges.c.dst == artifact_node_sql(artifacts.c.id),
            artifacts.c.kind.in_(DATASET_KINDS),
            self._compare(column, values),
        )

    def _status(self, literal: _Literal) -> str:
        try:
            return RunStatus(str(literal.value).lower()).value  # stored in lower case
        except ValueError:
            takes = _TAKES[_Kind.STATUS]
            self._fail(f"no run status {literal.value!r}; {self.field} takes {takes}", literal.pos)

    def _values(self, convert=None) -> list:
        values = [literal.value for literal in self.literals]
        return values if convert is None else [convert(value) for value in values]

    def _expect(self, kind: type, ops: tuple[Op, ...], takes: str) -> None:
        """Refuse a literal or an operator the field does not take, saying what it takes."""
        for literal in self.literals:
            if type(literal.value) is not kind:
                self._fail(f"{self.field} takes {takes}", literal.pos)
        if self.op not in ops:
            self._fail(f"{self.field} takes {takes}; {self.op.value} does not apply")

    def _compare(self, column: sa.ColumnElement, values: list) -> sa.ColumnElement[bool]:
        op = self.op
        if op is Op.IN:
            return column.in_(values)
        if op is Op.NOT_IN:
            return column.not_in(values)
        value = values[0]
        if op in (Op.LIKE, Op.ILIKE):
            return like(column, str(value), self.parser.dialect, ignore_case=op is Op.ILIKE)
        return {
            Op.EQ: column == value,
            Op.NE: column != value,
            Op.LT: column < value,
            Op.LE: column <= value,
            Op.GT: column > value,
            Op.GE: column >= value,
        }[op]

    def _exists(
        self, table: sa.FromClause, *conditions: sa.ColumnElement[bool]
    ) -> sa.ColumnElement[bool]:
        # Like MLflow, a condition on a key only holds for runs that have that key; is null
        # asks for the runs that do not.
        found = sa.exists().where(
            table.c.run_id == schema.runs.c.id, table.c.key == self.field.name, *conditions
        )
        return ~found if self.op is Op.IS_NULL else found

    def _fail(self, message: str, pos: int | None = None) -> NoReturn:
        self.parser.fail(self.field.pos if pos is None else pos, message)


def _field(text: str, token: Token, what: str = "filter") -> Field:
    def fail(message: str) -> NoReturn:
        raise FilterSyntaxError(_where(text, token.pos, message, what))

    if token.kind != "field":  # no section: an attribute, as in MLflow
        return _attribute(_unquote(token.text), token.pos, fail, bare=True)
    if token.text.startswith("`"):
        end = token.text.index("`", 1)
        written, name = token.text[1:end], token.text[end + 2 :]
    else:
        written, name = token.text.split(".", 1)
    section = _SECTION.get(written.lower())
    if section is None:
        fail(f"no field {written}.*; fields are {_FIELDS}{_suggest(written.lower(), _SECTION)}")
    name = _unquote(name)
    if not name:
        fail("the name after the dot is empty")
    if section == "attributes":
        return _attribute(name, token.pos, fail, bare=False)
    if section == "datasets" and name not in DATASET_FIELDS:
        reason = f"; {_NOT_IN_CAIRN[name]}" if name in _NOT_IN_CAIRN else ""
        fail(f"no dataset field {name!r}{reason}; datasets take name and digest")
    return Field(section, name, token.pos)


def _attribute(name: str, pos: int, fail: Callable[[str], NoReturn], *, bare: bool) -> Field:
    name = _ATTRIBUTE_ALIASES.get(name, name)
    if name in _ATTRIBUTES:
        return Field("attributes", name, pos)
    message = f"no attribute {name!r}"
    if name in _NOT_IN_CAIRN:
        message += f" ({_NOT_IN_CAIRN[name]})"
    elif bare and name.split(".", 1)[0].lower() in _SECTION:
        message += "; quote the key alone, as in metrics.`a b`"
    elif suggestion := _suggest(name, {**_ATTRIBUTES, **_ATTRIBUTE_ALIASES}):
        message += suggestion
    elif bare:
        message += (
            " (a name without a section is an attribute, as in MLflow); did you mean "
            f"metrics.{name}, params.{name} or tags.{name}?"
        )
    fail(f"{message}; attributes are {_ATTRIBUTE_LIST}")


def _suggest(written: str, known: Mapping[str, object]) -> str:
    """ "; did you mean X or Y?" for the names `written` may have meant, else ""."""
    names = [name for name in known if name.startswith(written)] if written else []
    names = names or difflib.get_close_matches(written, list(known), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(names[:3])}?" if names else ""


def _unquote(name: str) -> str:
    if name[:1] in '`"' and len(name) >= 2 and name[-1] == name[0]:
        return name[1:-1]
    return name


def _ascii_lower(column: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[str]:
    if dialect == "sqlite":
        return sa.func.lower(column)  # SQLite's lower folds ASCII only, as wanted here
    return sa.func.translate(column, _ASCII_UPPER, _ASCII_UPPER.lower())


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

"""MLflow's search filter grammar: filter strings → validated `Comparison`s, one grammar per search.

Pure parsing (no SQL, no I/O). Rules follow MLflow 3.17.2's `search_utils.py` plus the checks its
SQLAlchemy stores add, so a string an `mlflow server` rejects is rejected here, at parse time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowport.v1.errors import ApiError, invalid_parameter


@dataclass(frozen=True)
class Comparison:
    kind: str  # "metric" | "param" | "tag" | "attribute" | "dataset"
    key: str  # canonical key, aliases resolved ("created" → "start_time")
    op: str  # "=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
    value: float | int | str | tuple[str, ...] | None


NUMERIC_OPS = frozenset({"=", "!=", ">", ">=", "<", "<="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})

# MLflow's entity prefixes and their aliases (SearchUtils._VALID_IDENTIFIERS).
RUN_PREFIXES: dict[str, str] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
# Experiments and the model registry accept only these three (SearchExperimentsUtils._get_identifier).
REGISTRY_PREFIXES: dict[str, str] = {"attribute": "attribute", "tag": "tag", "tags": "tag"}

_OP_CHARS = "<>=~!"
_WORD = re.compile(r"\w+")
_KEY_CHAIN = re.compile(r"\w+(?:\.\w+)*")
# sqlparse's number literals, which MLflow relies on: no leading '+', no hex, exponent without '+'.
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)")
_INTEGER = re.compile(r"-?\d+")
_BARE_WORD = re.compile(r"[\w.\-+]+")  # an unquoted value, read whole so the error can quote it


@dataclass(frozen=True)
class Identifier:
    """A left-hand side as written: optional prefix (`metrics`) and key (quotes removed)."""

    prefix: str | None
    key: str
    text: str  # as written, for messages


@dataclass(frozen=True)
class _Value:
    kind: str  # "string" | "number" | "list" | "word" | "backtick"
    text: str  # as written
    content: str | tuple[str, ...] = ""


class Scanner:
    """A cursor over one filter or order_by string; every method leaves `pos` after what it read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def word(self) -> str | None:
        m = _WORD.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return m.group()

    def peek_word(self) -> str | None:
        m = _WORD.match(self.text, self.pos)
        return m.group() if m else None

    def quoted(self) -> str:
        """Read a quoted token at `pos` and return its inner text.

        Doubled quotes (`''`) and backslash-escaped quotes stay in the value verbatim, as in
        MLflow, which strips only the outer quotes.
        """
        quote = self.text[self.pos]
        start = self.pos
        i = start + 1
        while i < len(self.text):
            c = self.text[i]
            if c == quote:
                if i + 1 < len(self.text) and self.text[i + 1] == quote:
                    i += 2
                    continue
                self.pos = i + 1
                return self.text[start + 1 : i]
            if c == "\\" and quote != "`" and i + 1 < len(self.text) and self.text[i + 1] == quote:
                i += 2
                continue
            i += 1
        raise invalid_parameter(
            f"Invalid clause(s) in filter string: unterminated quoted string "
            f"{self.text[start:]!r} at position {start}"
        )

    def identifier(self) -> Identifier | None:
        """Read `prefix.key`, `key`, with backtick or double quoted parts; None if none starts here."""
        start = self.pos
        first = self.quoted() if self.peek() in ("`", '"') else self.word()
        if first is None:
            return None
        if self.peek() != ".":
            return Identifier(None, first, self.text[start : self.pos])
        self.pos += 1
        if self.peek() in ("`", '"', "'"):
            key = self.quoted()
        else:
            m = _KEY_CHAIN.match(self.text, self.pos)
            if not m:
                raise invalid_parameter(
                    f"Invalid identifier {self.text[start : self.pos]!r}: expected a key after "
                    f"'{first}.' (quote keys holding spaces or symbols with backticks)"
                )
            self.pos = m.end()
            key = m.group()
        return Identifier(first, key, self.text[start : self.pos])


@dataclass(frozen=True)
class Grammar:
    """What one search accepts: prefixes, attribute keys, comparators and value rules."""

    search: str  # for messages: "runs", "experiments", ...
    prefixes: dict[str, str]
    attributes: dict[str, str]  # key as written → canonical key
    attribute_ops: dict[str, frozenset[str]]  # canonical key → comparators
    numeric_attributes: frozenset[str]
    kind_ops: dict[str, frozenset[str]]  # comparators for non-attribute kinds this search allows
    dataset_keys: frozenset[str] = frozenset()
    fractional_numbers: bool = True  # may numeric attributes be compared with 1.5?
    quoted_integers: frozenset[str] = frozenset()  # numeric attributes that also take '3'
    numbers_as_strings: bool = False  # logged models: `params.lr = 0.01`
    integer_string_attributes: frozenset[str] = frozenset()  # experiment_id: digits only


def parse_filter(filter_string: str | None, grammar: Grammar) -> list[Comparison]:
    """Parse an AND-joined filter with `grammar`; raise INVALID_PARAMETER_VALUE on any fault."""
    if filter_string is None or filter_string == "":
        return []
    if not filter_string.strip():
        raise invalid_parameter(f"Invalid filter '{filter_string}'. Could not be parsed.")
    sc = Scanner(filter_string)
    comparisons: list[Comparison] = []
    while True:
        sc.skip_ws()
        if sc.at_end():
            return comparisons
        word = sc.peek_word()
        # AND is a separator; like MLflow we tolerate it leading, trailing or repeated.
        if word is not None and word.upper() == "AND":
            sc.word()
            continue
        if word is not None and word.upper() == "OR":
            raise invalid_parameter(
                "Invalid clause(s) in filter string: 'OR'. Only AND-joined comparisons are supported."
            )
        comparisons.append(_comparison(sc, grammar))


def _invalid_clause(sc: Scanner, what: str) -> ApiError:
    rest = sc.text[sc.pos :].strip()
    return invalid_parameter(
        f"Invalid clause(s) in filter string: {what} at position {sc.pos}"
        + (f" ('{rest[:40]}')" if rest else "")
    )


def _comparison(sc: Scanner, grammar: Grammar) -> Comparison:
    ident = sc.identifier()
    if ident is None:
        raise _invalid_clause(sc, "expected an identifier such as metrics.acc or tags.`my tag`")
    sc.skip_ws()
    op = _comparator(sc, ident)
    value: _Value | None = None
    if op not in NULL_OPS:
        sc.skip_ws()
        value = _value(sc, ident, op)
    kind, key = _resolve_identifier(ident, grammar)
    return _validated(grammar, kind, key, op, value)


def _comparator(sc: Scanner, ident: Identifier) -> str:
    start = sc.pos
    if sc.peek() and sc.peek() in _OP_CHARS:
        while sc.peek() and sc.peek() in _OP_CHARS:
            sc.pos += 1
        op = sc.text[start : sc.pos]
        if op not in NUMERIC_OPS:
            raise invalid_parameter(
                f"Invalid comparator '{op}' after '{ident.text}'. "
                f"Use one of {sorted(NUMERIC_OPS)}, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL."
            )
        return op
    word = sc.word()
    if word is None:
        raise _invalid_clause(sc, f"expected a comparator after '{ident.text}'")
    upper = word.upper()
    if upper in ("LIKE", "ILIKE", "IN"):
        return upper
    if upper in ("NOT", "IS"):
        sc.skip_ws()
        nxt = (sc.word() or "").upper()
        if upper == "NOT" and nxt == "IN":
            return "NOT IN"
        if upper == "IS" and nxt == "NULL":
            return "IS NULL"
        if upper == "IS" and nxt == "NOT":
            sc.skip_ws()
            if (sc.word() or "").upper() == "NULL":
                return "IS NOT NULL"
        raise invalid_parameter(
            f"Invalid comparator '{sc.text[start : sc.pos].strip()}' after '{ident.text}'. "
            "Supported: =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL."
        )
    raise invalid_parameter(
        f"Invalid comparator '{word}' after '{ident.text}'. "
        "Supported: =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL."
    )


def _value(sc: Scanner, ident: Identifier, op: str) -> _Value:
    start = sc.pos
    c = sc.peek()
    if c in ("'", '"'):
        content = sc.quoted()
        return _Value("string", sc.text[start : sc.pos], content)
    if c == "`":
        content = sc.quoted()
        return _Value("backtick", sc.text[start : sc.pos], content)
    if c == "(":
        items = _string_list(sc)
        return _Value("list", sc.text[start : sc.pos], items)
    m = _NUMBER.match(sc.text, sc.pos)
    if m and not _continues_word(sc.text, m.end()):
        sc.pos = m.end()
        return _Value("number", m.group(), m.group())
    m = _BARE_WORD.match(sc.text, sc.pos)
    if m:
        sc.pos = m.end()
        return _Value("word", m.group(), m.group())
    raise _invalid_clause(sc, f"expected a value after '{ident.text} {op}'")


def _continues_word(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos].isalnum() or text[pos] in "_.")


def _string_list(sc: Scanner) -> tuple[str, ...]:
    """Read `('a', "b", ...)`; a trailing comma is allowed, as MLflow's literal_eval allows it."""
    start = sc.pos
    sc.pos += 1
    items: list[str] = []
    while True:
        sc.skip_ws()
        c = sc.peek()
        if c == ")":
            sc.pos += 1
            break
        if c in ("'", '"'):
            items.append(sc.quoted())
            sc.skip_ws()
            if sc.peek() == ",":
                sc.pos += 1
                continue
            if sc.peek() == ")":
                sc.pos += 1
                break
        if sc.at_end():
            raise invalid_parameter(
                "While parsing a list in the query, expected a non-empty list of string values, "
                f"but got ill-formed list: {sc.text[start:]!r} is not closed."
            )
        end = sc.text.find(")", sc.pos)
        shown = sc.text[start : end + 1] if end >= 0 else sc.text[start:]
        raise invalid_parameter(
            "While parsing a list in the query, expected string value, punctuation, or whitespace, "
            f"but got different type in list: {shown}"
        )
    if not items:
        raise invalid_parameter(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got empty list"
        )
    return tuple(items)


def _resolve_identifier(ident: Identifier, grammar: Grammar) -> tuple[str, str]:
    if ident.prefix is None:
        kind = "attribute"
    else:
        kind = grammar.prefixes.get(ident.prefix)
        if kind is None:
            raise invalid_parameter(
                f"Invalid entity type '{ident.prefix}'. Valid entity types for searching "
                f"{grammar.search} are {sorted(grammar.prefixes)}"
            )
    if ident.key == "":
        raise invalid_parameter(f"Invalid identifier '{ident.text}': the key is empty.")
    if kind == "attribute":
        canonical = grammar.attributes.get(ident.key)
        if canonical is None:
            raise invalid_parameter(
                f"Invalid attribute key '{ident.key}' specified. Valid keys for searching "
                f"{grammar.search} are {sorted(grammar.attributes)}"
            )
        return kind, canonical
    if kind == "dataset" and ident.key not in grammar.dataset_keys:
        raise invalid_parameter(
            f"Invalid dataset key '{ident.key}' specified. Valid keys are {sorted(grammar.dataset_keys)}"
        )
    return kind, ident.key


def _allowed_ops(grammar: Grammar, kind: str, key: str) -> frozenset[str]:
    if kind == "attribute":
        return grammar.attribute_ops[key]
    return grammar.kind_ops[kind]


def _validated(grammar: Grammar, kind: str, key: str, op: str, value: _Value | None) -> Comparison:
    allowed = _allowed_ops(grammar, kind, key)
    label = f"{kind} '{key}'"
    if op not in allowed:
        if op in NULL_OPS:
            raise invalid_parameter(
                f"IS NULL / IS NOT NULL is not supported for {label} when searching {grammar.search}"
            )
        if op in LIST_OPS and kind == "attribute":
            listable = sorted(k for k, ops in grammar.attribute_ops.items() if "IN" in ops)
            raise invalid_parameter(
                f"Only {listable} attributes support comparison with a list of quoted string values."
            )
        raise invalid_parameter(f"Invalid comparator '{op}' for {label}; expected one of {sorted(allowed)}")
    if value is None:
        return Comparison(kind, key, op, None)

    numeric = kind == "metric" or (kind == "attribute" and key in grammar.numeric_attributes)
    if numeric:
        return Comparison(kind, key, op, _numeric_value(grammar, kind, key, value))
    if op in LIST_OPS:
        if value.kind != "list":
            raise invalid_parameter(
                f"'{op}' needs a parenthesised list of quoted strings, e.g. {key} {op} ('a', 'b'). "
                f"Got value {value.text}"
            )
        items = value.content
        if key in grammar.integer_string_attributes and kind == "attribute":
            items = tuple(_integer_id(v) for v in items)
        return Comparison(kind, key, op, items)
    if value.kind == "list":
        raise invalid_parameter(
            f"A list of values is only allowed with IN / NOT IN; got {label} {op} {value.text}"
        )
    if value.kind == "string":
        text = value.content
    elif value.kind == "number" and grammar.numbers_as_strings:
        text = value.text
    elif value.kind in ("word", "backtick"):
        raise invalid_parameter(
            "Parameter value is either not quoted or unidentified quote types used for string value "
            f"{value.text}. Use either single or double quotes."
        )
    else:
        noun = {"param": "parameter", "tag": "tag"}.get(kind, f"{kind} attributes")
        raise invalid_parameter(
            f"Expected a quoted string value for {noun} (e.g. 'my-value'). Got value {value.text}"
        )
    if key in grammar.integer_string_attributes and kind == "attribute":
        text = _integer_id(text)
    return Comparison(kind, key, op, text)


def _numeric_value(grammar: Grammar, kind: str, key: str, value: _Value) -> float | int:
    if kind == "metric":
        if value.kind != "number":
            raise invalid_parameter(f"Expected numeric value type for metric. Found {value.text}")
        return float(value.text)
    if value.kind == "string" and key in grammar.quoted_integers:
        try:
            return int(value.content)
        except ValueError:
            raise invalid_parameter(
                f"Invalid value for numeric attribute '{key}': {value.content!r}"
            ) from None
    if value.kind != "number":
        raise invalid_parameter(
            f"Expected numeric value type for numeric attribute: {key}. Found {value.text}"
        )
    if _INTEGER.fullmatch(value.text):
        return int(value.text)
    if not grammar.fractional_numbers:
        raise invalid_parameter(f"Invalid value for numeric attribute '{key}': {value.text!r}")
    return float(value.text)


def _integer_id(text: str) -> str:
    # Experiment IDs are integers in MLflow's schema; it rejects anything int() cannot read.
    try:
        return str(int(text))
    except ValueError:
        raise invalid_parameter(
            f"Invalid experiment ID '{text}'. Experiment ID must be a valid integer."
        ) from None


# --- the five searches -------------------------------------------------------------------------

_RUN_STRING_ATTRIBUTES = ("run_name", "status", "user_id", "artifact_uri")

RUN_GRAMMAR = Grammar(
    search="runs",
    prefixes=RUN_PREFIXES,
    attributes={
        "run_id": "run_id",
        "run_name": "run_name",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
        "status": "status",
        "user_id": "user_id",
        "artifact_uri": "artifact_uri",
        "start_time": "start_time",
        "created": "start_time",
        "Created": "start_time",
        "end_time": "end_time",
    },
    attribute_ops={
        "run_id": STRING_OPS | LIST_OPS,
        **{k: STRING_OPS for k in _RUN_STRING_ATTRIBUTES},
        "start_time": NUMERIC_OPS,
        "end_time": NUMERIC_OPS,
    },
    numeric_attributes=frozenset({"start_time", "end_time"}),
    kind_ops={
        "metric": NUMERIC_OPS,
        "param": STRING_OPS | NULL_OPS,
        "tag": STRING_OPS | NULL_OPS,
        "dataset": STRING_OPS | LIST_OPS,
    },
    dataset_keys=frozenset({"name", "digest", "context"}),
)

EXPERIMENT_GRAMMAR = Grammar(
    search="experiments",
    prefixes={"attribute": "attribute", "tag": "tag", "tags": "tag"},
    attributes={k: k for k in ("name", "experiment_id", "creation_time", "last_update_time")},
    attribute_ops={
        "name": STRING_OPS,
        "experiment_id": frozenset({"=", "!="}) | LIST_OPS,
        "creation_time": NUMERIC_OPS,
        "last_update_time": NUMERIC_OPS,
    },
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    kind_ops={"tag": STRING_OPS | NULL_OPS},
    fractional_numbers=False,
    integer_string_attributes=frozenset({"experiment_id"}),
)

REGISTERED_MODEL_GRAMMAR = Grammar(
    search="registered models",
    prefixes=REGISTRY_PREFIXES,
    attributes={"name": "name"},
    attribute_ops={"name": STRING_OPS | LIST_OPS},
    numeric_attributes=frozenset(),
    kind_ops={"tag": STRING_OPS},
)

MODEL_VERSION_GRAMMAR = Grammar(
    search="model versions",
    prefixes=REGISTRY_PREFIXES,
    attributes={k: k for k in ("name", "run_id", "source_path", "version_number")},
    attribute_ops={
        "name": STRING_OPS | LIST_OPS,
        "run_id": STRING_OPS | LIST_OPS,
        "source_path": STRING_OPS,
        "version_number": NUMERIC_OPS,
    },
    numeric_attributes=frozenset({"version_number"}),
    kind_ops={"tag": STRING_OPS},
    fractional_numbers=False,
    quoted_integers=frozenset({"version_number"}),
)

_LOGGED_MODEL_STRING_ATTRIBUTES = ("name", "model_id", "model_type", "status", "source_run_id")

LOGGED_MODEL_GRAMMAR = Grammar(
    search="logged models",
    prefixes={p: k for p, k in RUN_PREFIXES.items() if k != "dataset"},
    attributes={
        **{k: k for k in _LOGGED_MODEL_STRING_ATTRIBUTES},
        "creation_timestamp": "creation_timestamp",
        "creation_time": "creation_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
        "last_updated_time": "last_updated_timestamp",
    },
    attribute_ops={
        **{k: STRING_OPS | LIST_OPS for k in _LOGGED_MODEL_STRING_ATTRIBUTES},
        "creation_timestamp": NUMERIC_OPS,
        "last_updated_timestamp": NUMERIC_OPS,
    },
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    # IN on params and tags, and bare numbers as their values, are what MLflow's SQL store takes.
    kind_ops={"metric": NUMERIC_OPS, "param": STRING_OPS | LIST_OPS, "tag": STRING_OPS | LIST_OPS},
    numbers_as_strings=True,
)


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchRuns.filter`: metrics, params, tags, run attributes and datasets."""
    return parse_filter(filter_string, RUN_GRAMMAR)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchExperiments.filter`: name, experiment_id, creation/last_update time and tags."""
    return parse_filter(filter_string, EXPERIMENT_GRAMMAR)


def parse_registered_model_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchRegisteredModels.filter`: name and tags."""
    return parse_filter(filter_string, REGISTERED_MODEL_GRAMMAR)


def parse_model_version_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchModelVersions.filter`: name, version_number, run_id, source_path and tags."""
    return parse_filter(filter_string, MODEL_VERSION_GRAMMAR)


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchLoggedModels.filter`: metrics, params, tags and logged-model attributes."""
    return parse_filter(filter_string, LOGGED_MODEL_GRAMMAR)

"""MLflow's search filter grammar: filter strings → validated `Comparison`s, one grammar per search.

Pure parsing (no SQL, no I/O). Rules follow MLflow 3.17.2's `search_utils.py` plus the checks its
SQLAlchemy stores add, so a string an `mlflow server` rejects is rejected here, at parse time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    return parse_and_joined(filter_string, lambda sc: _comparison(sc, grammar))


def parse_and_joined(
    filter_string: str | None, comparison: Callable[[Scanner], Comparison]
) -> list[Comparison]:
    """Split a filter at its ANDs and read each clause with `comparison`; OR is refused."""
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
        comparisons.append(comparison(sc))


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


# --- traces (SearchTracesV3) -------------------------------------------------------------------
# MLflow 3.17.2's SearchTraceUtils plus the checks `SqlAlchemyStore.search_traces` adds. Trace
# comparisons use the kinds "attribute", "tag", "metadata", "span", "feedback" and "expectation",
# and may also use "RLIKE" (a regular expression, as MLflow's store reads it per database).

TRACE_PREFIXES: dict[str, str] = {
    "attribute": "attribute",
    "attributes": "attribute",
    "trace": "attribute",
    "tag": "tag",
    "tags": "tag",
    "request_metadata": "metadata",
    "metadata": "metadata",
    "span": "span",
    "feedback": "feedback",
    "expectation": "expectation",
    "issue": "issue",  # known to MLflow, refused here with its own message
}
# Keys a bare or `trace.` identifier may name (SearchTraceUtils.VALID_SEARCH_ATTRIBUTE_KEYS).
TRACE_FILTER_ATTRIBUTES = frozenset(
    {
        "request_id",
        "timestamp",
        "timestamp_ms",
        "execution_time",
        "execution_time_ms",
        "end_time",
        "end_time_ms",
        "status",
        "client_request_id",
        "name",
        "run_id",
        "prompt",
        "text",
    }
)
TRACE_NUMERIC_ATTRIBUTES = frozenset({"timestamp_ms", "execution_time_ms", "end_time_ms"})
_TRACE_NUMERIC_KEYS_AS_WRITTEN = TRACE_NUMERIC_ATTRIBUTES | {"timestamp", "execution_time", "end_time"}
_TRACE_LIST_ATTRIBUTES = frozenset({"name", "status", "request_id", "run_id", "client_request_id"})

TRACE_NAME_TAG = "mlflow.traceName"
TRACE_LINKED_PROMPTS_TAG = "mlflow.linkedPrompts"
TRACE_SOURCE_RUN_METADATA = "mlflow.sourceRun"
# Metadata MLflow keeps in several columns; it can only tell whether they equal one JSON value.
TRACE_RESERVED_METADATA = frozenset({"mlflow.trace.tokenUsage", "mlflow.trace.cost"})

# _replace_key_to_tag_or_metadata: MLflow applies it, case-insensitively, to every kind but span
# (so `tags.name` and even `feedback.name` filter on the trace name).
# `prompt = "name/version"` is not a tag comparison in MLflow: it selects traces linked to that
# prompt version (its entity-association table), and only `=` with one '/' is accepted.
_TRACE_KEY_TO_TAG = {"name": TRACE_NAME_TAG, "prompt": TRACE_LINKED_PROMPTS_TAG}
_TRACE_KEY_TO_METADATA = {"run_id": TRACE_SOURCE_RUN_METADATA}
_TRACE_KEY_TO_SPAN = {"text": "content"}
_TRACE_KEY_ALIASES = {
    "timestamp": "timestamp_ms",
    "execution_time": "execution_time_ms",
    "end_time": "end_time_ms",
}

TRACE_SPAN_KEYS = frozenset({"name", "type", "status"})
TRACE_SPAN_ATTRIBUTE_PREFIX = "attributes."

RLIKE_OPS = frozenset({"RLIKE"})
_TRACE_TEXT_OPS = STRING_OPS | RLIKE_OPS
_TRACE_TAG_OPS = _TRACE_TEXT_OPS | NULL_OPS
_TRACE_ASSESSMENT_NUMERIC_OPS = frozenset({">", ">=", "<", "<="})
_TRACE_KIND_OPS: dict[str, frozenset[str]] = {
    "tag": _TRACE_TAG_OPS,
    "metadata": _TRACE_TAG_OPS,
    "feedback": _TRACE_TEXT_OPS | NUMERIC_OPS | NULL_OPS,
    "expectation": _TRACE_TEXT_OPS | NUMERIC_OPS | NULL_OPS,
}


def _trace_allowed_ops(kind: str, key: str) -> frozenset[str]:
    if kind == "attribute":
        return NUMERIC_OPS if key in TRACE_NUMERIC_ATTRIBUTES else _TRACE_TEXT_OPS | LIST_OPS
    if kind == "span":
        if key == "content":
            return frozenset({"LIKE", "ILIKE"})
        if key.startswith(TRACE_SPAN_ATTRIBUTE_PREFIX):
            # MLflow matches span attributes with a pattern over the span's JSON; IN has no such
            # pattern and its store fails on it, so it is refused here.
            return _TRACE_TEXT_OPS
        return _TRACE_TEXT_OPS | LIST_OPS
    if kind == "tag" and key == TRACE_LINKED_PROMPTS_TAG:
        return frozenset({"="})
    if kind == "metadata" and key in TRACE_RESERVED_METADATA:
        return frozenset({"=", "!="}) | NULL_OPS
    return _TRACE_KIND_OPS[kind]


def resolve_trace_key(kind: str, key: str) -> tuple[str, str]:
    """MLflow's trace key mapping: `name` → trace-name tag, `run_id` → source-run metadata, ..."""
    if kind == "span":
        return kind, key
    lowered = key.lower()
    if lowered in _TRACE_KEY_TO_TAG:
        return "tag", _TRACE_KEY_TO_TAG[lowered]
    if lowered in _TRACE_KEY_TO_METADATA:
        return "metadata", _TRACE_KEY_TO_METADATA[lowered]
    if lowered in _TRACE_KEY_TO_SPAN:
        return "span", _TRACE_KEY_TO_SPAN[lowered]
    return kind, _TRACE_KEY_ALIASES.get(lowered, key)


def parse_trace_filter(filter_string: str | None) -> list[Comparison]:
    """`SearchTracesV3.filter`: trace attributes, tags, metadata, spans and assessments."""
    return parse_and_joined(filter_string, _trace_comparison)


def _trace_identifier(sc: Scanner) -> Identifier | None:
    start = sc.pos
    ident = sc.identifier()
    if ident is None or ident.prefix != "span" or ident.key != "attributes" or sc.peek() != ".":
        return ident
    # span.attributes.`my.attr`: the attribute name may be quoted, and may not be empty.
    sc.pos += 1
    if sc.peek() in ("`", '"'):
        name = sc.quoted()
    else:
        m = _KEY_CHAIN.match(sc.text, sc.pos)
        name = m.group() if m else ""
        sc.pos = m.end() if m else sc.pos
    if not name:
        raise invalid_parameter("Span attribute name cannot be empty after 'attributes.'")
    return Identifier("span", TRACE_SPAN_ATTRIBUTE_PREFIX + name, sc.text[start : sc.pos])


def _trace_comparison(sc: Scanner) -> Comparison:
    ident = _trace_identifier(sc)
    if ident is None:
        raise _invalid_clause(sc, "expected an identifier such as tags.`my tag` or trace.status")
    sc.skip_ws()
    word = sc.peek_word()
    if word is not None and word.upper() == "RLIKE":
        sc.word()
        op = "RLIKE"
    else:
        op = _comparator(sc, ident)
    value: _Value | None = None
    if op not in NULL_OPS:
        sc.skip_ws()
        value = _value(sc, ident, op)
    _reject_sql_keyword_identifier(ident, op, value)
    if ident.prefix == "span" and word is not None and word != op and op in _TRACE_TEXT_OPS | {"IN"}:
        # MLflow checks span comparators as written, so it takes LIKE but not like; so do we.
        raise invalid_parameter(f"span.{ident.key} comparator '{word}' is not supported; write {op}.")
    kind, key = _trace_kind_and_key(ident)
    parsed = _trace_value(kind, key, op, value)
    kind, key = resolve_trace_key(kind, key)
    if kind == "issue":
        raise invalid_parameter(
            f"Filtering traces by issue ('{ident.text}') is not supported by this server."
        )
    return _validated_trace_comparison(kind, key, op, parsed)


def _reject_sql_keyword_identifier(ident: Identifier, op: str, value: _Value | None) -> None:
    # MLflow reads filters with a SQL tokenizer, for which bare `text` is a type name and bare
    # `timestamp` a builtin that only pairs with an integer; it rejects them otherwise. Quoted
    # (`text`) or prefixed (trace.text) spellings work there, and so they do here.
    if ident.text == "text" or (
        ident.text == "timestamp"
        and not (op in NUMERIC_OPS and value is not None and _INTEGER.fullmatch(value.text))
    ):
        shown = f"{ident.text} {op}" + (f" {value.text}" if value is not None else "")
        raise invalid_parameter(
            f"Invalid clause(s) in filter string: '{shown}'. Write `{ident.text}` or "
            f"trace.{ident.text} to use '{ident.text}' as a key."
        )


def trace_kind(ident: Identifier, doing: str) -> str:
    """The comparison kind a trace identifier's prefix names; `doing` is "searching" or "ordering"."""
    if ident.prefix is None:
        return "attribute"
    kind = TRACE_PREFIXES.get(ident.prefix)
    if kind is None:
        raise invalid_parameter(
            f"Invalid entity type '{ident.prefix}'. Valid entity types for {doing} traces "
            f"are {sorted(TRACE_PREFIXES)}"
        )
    return kind


def _trace_kind_and_key(ident: Identifier) -> tuple[str, str]:
    kind = trace_kind(ident, "searching")
    key = ident.key
    if key == "":
        if kind in ("feedback", "expectation"):
            raise invalid_parameter("Assessment field name cannot be empty")
        raise invalid_parameter(f"Invalid identifier '{ident.text}': the key is empty.")
    if kind == "attribute" and key not in TRACE_FILTER_ATTRIBUTES:
        raise invalid_parameter(
            f"Invalid attribute key '{key}' specified. Valid keys for searching traces are "
            f"{sorted(TRACE_FILTER_ATTRIBUTES)}"
        )
    if kind == "span" and key not in TRACE_SPAN_KEYS | {"content"}:
        if not key.startswith(TRACE_SPAN_ATTRIBUTE_PREFIX):
            raise invalid_parameter(
                f"Invalid span attribute '{key}'. Supported attributes: "
                f"{', '.join(sorted(TRACE_SPAN_KEYS))}, attributes.<attribute_name>."
            )
    return kind, key


def _quoted_text(value: _Value, expected: str) -> str:
    if value.kind == "string":
        return str(value.content)
    if value.kind in ("word", "backtick"):
        raise invalid_parameter(
            "Parameter value is either not quoted or unidentified quote types used for string value "
            f"{value.text}. Use either single or double quotes."
        )
    raise invalid_parameter(f"Expected {expected}. Got value {value.text}")


def _number(text: str) -> int | float:
    return int(text) if _INTEGER.fullmatch(text) else float(text)


_TraceValue = float | int | str | tuple[str, ...] | None


def _trace_value(kind: str, key: str, op: str, value: _Value | None) -> _TraceValue:
    """The value as MLflow reads it for the kind written (before `name` → tag and the like)."""
    if value is None:
        return None
    noun = "request_metadata" if kind == "metadata" else kind
    if kind == "attribute":
        if value.kind == "number":
            if key not in _TRACE_NUMERIC_KEYS_AS_WRITTEN:
                raise invalid_parameter(
                    f"Only the {sorted(TRACE_NUMERIC_ATTRIBUTES)} attributes support comparison "
                    f"with numeric values. Got {key} {op} {value.text}"
                )
            return _number(value.text)
        if value.kind == "list":
            if key not in _TRACE_LIST_ATTRIBUTES:
                raise invalid_parameter(
                    f"Only attributes in {sorted(_TRACE_LIST_ATTRIBUTES)} support comparison with "
                    "a list of quoted string values."
                )
            return value.content
        return _quoted_text(value, "a quoted string value or a list of quoted string values for attributes")
    if kind in ("feedback", "expectation"):
        if op in _TRACE_ASSESSMENT_NUMERIC_OPS:
            if value.kind != "number":
                raise invalid_parameter(
                    f"Expected a numeric value for {kind} when using comparator '{op}'. "
                    f"Got value {value.text}"
                )
            return _number(value.text)
        return _quoted_text(value, f"a quoted string value for {kind} (e.g. 'my-value')")
    if kind in ("tag", "span") and value.kind == "list":
        return value.content
    return _quoted_text(value, f"a quoted string value for {noun} (e.g. 'my-value')")


def _validated_trace_comparison(kind: str, key: str, op: str, value: _TraceValue) -> Comparison:
    allowed = _trace_allowed_ops(kind, key)
    label = {"attribute": f"trace attribute '{key}'", "span": f"span.{key}"}.get(kind, f"{kind} '{key}'")
    if op not in allowed:
        if kind == "tag" and key == TRACE_LINKED_PROMPTS_TAG:
            raise invalid_parameter(
                f"Invalid comparator '{op}' for prompts filter. "
                "Only '=' is supported with format: prompt = \"name/version\""
            )
        if kind == "metadata" and key in TRACE_RESERVED_METADATA:
            raise invalid_parameter(
                f"Comparator '{op}' is not supported for reserved metadata '{key}'. "
                "Only '=', '!=', 'IS NULL', and 'IS NOT NULL' are supported."
            )
        raise invalid_parameter(f"Invalid comparator '{op}' for {label}; expected one of {sorted(allowed)}")
    if op in LIST_OPS and not isinstance(value, tuple):
        raise invalid_parameter(
            f"'{op}' needs a parenthesised list of quoted strings, e.g. {op} ('a', 'b'); got {value!r}"
        )
    if isinstance(value, tuple) and op not in LIST_OPS:
        raise invalid_parameter(f"A list of values is only allowed with IN / NOT IN; got {label} {op}")
    if kind == "attribute" and key in TRACE_NUMERIC_ATTRIBUTES and isinstance(value, str):
        # MLflow hands a quoted number to the database as text, which SQLite coerces and
        # PostgreSQL refuses unless it is a number; we take numbers only, as numbers.
        if not _NUMBER.fullmatch(value):
            raise invalid_parameter(
                f"Expected numeric value type for numeric attribute: {key}. Found '{value}'"
            )
        value = _number(value)
    if kind == "tag" and key == TRACE_LINKED_PROMPTS_TAG and str(value).count("/") != 1:
        raise invalid_parameter(
            f"Invalid prompts filter value '{value}'. Expected format: prompt = \"name/version\""
        )
    return Comparison(kind, key, op, value)

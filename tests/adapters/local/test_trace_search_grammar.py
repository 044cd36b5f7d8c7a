"""The trace search grammar (SearchTracesV3 filter and order_by) against MLflow 3.17.2 itself.

MLflow's judges are `SearchTraceUtils` (its parser) and its real SQLAlchemy store's
`search_traces`, which adds checks of its own. For each string, a valid one must be accepted by
MLflow's store, parse as MLflow parses it (kind, key, comparator, value) and give the Comparisons
written here; an invalid one must be rejected by MLflow's store and by us with
INVALID_PARAMETER_VALUE. Deliberate differences are listed, and asserted on both sides, at the end.
"""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as MlflowTrackingStore
from mlflow.utils.search_utils import SearchTraceUtils

from flowport.adapters.local.search import Comparison, OrderKey, parse_trace_filter, parse_trace_order_by
from flowport.v1.errors import ApiError

NAME = "mlflow.traceName"
SOURCE_RUN = "mlflow.sourceRun"
PROMPTS = "mlflow.linkedPrompts"
NUMERIC_ATTRIBUTES = {"timestamp_ms", "execution_time_ms", "end_time_ms"}


@pytest.fixture(scope="module")
def mlflow_traces(tmp_path_factory):
    """MLflow's own tracking store on a fresh SQLite file, and an experiment to search in."""
    root = tmp_path_factory.mktemp("mlflow-trace-reference")
    store = MlflowTrackingStore(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts"))
    experiment_id = store.create_experiment("traces")

    def search(filter_string: str | None = None, order_by: list[str] | None = None) -> None:
        store.search_traces(locations=[experiment_id], filter_string=filter_string, order_by=order_by)

    yield search
    store.engine.dispose()


def mlflow_view(parsed: dict) -> Comparison:
    """MLflow's parse result in our canonical form."""
    kind = "metadata" if parsed["type"] == "request_metadata" else parsed["type"]
    key, op, value = parsed["key"], parsed["comparator"].upper(), parsed["value"]
    if kind == "span" and key.startswith("attributes.`"):
        key = "attributes." + key[len("attributes.`") : -1]  # its store trims the backticks later
    if kind == "attribute" and key in NUMERIC_ATTRIBUTES and isinstance(value, str):
        value = int(value)  # we read a quoted number as the number (see the differences below)
    return Comparison(kind, key, op, value)


def attr(key, op, value):
    return Comparison("attribute", key, op, value)


def tag(key, op, value):
    return Comparison("tag", key, op, value)


def meta(key, op, value):
    return Comparison("metadata", key, op, value)


def span(key, op, value):
    return Comparison("span", key, op, value)


VALID_FILTERS = [
    # trace attributes, their aliases and prefixes
    ("trace.status = 'OK'", [attr("status", "=", "OK")]),
    ("status = 'OK'", [attr("status", "=", "OK")]),
    ('attributes.status != "ERROR"', [attr("status", "!=", "ERROR")]),
    ("attribute.status LIKE 'O%'", [attr("status", "LIKE", "O%")]),
    ("`status` ILIKE 'ok'", [attr("status", "ILIKE", "ok")]),
    ("status RLIKE '^O.*'", [attr("status", "RLIKE", "^O.*")]),
    ("status IN ('OK', 'ERROR')", [attr("status", "IN", ("OK", "ERROR"))]),
    ("trace.status NOT IN ('IN_PROGRESS',)", [attr("status", "NOT IN", ("IN_PROGRESS",))]),
    ("request_id = 'tr-1'", [attr("request_id", "=", "tr-1")]),
    ("request_id in ('tr-1', \"tr-2\")", [attr("request_id", "IN", ("tr-1", "tr-2"))]),
    ("client_request_id not in ('c')", [attr("client_request_id", "NOT IN", ("c",))]),
    ("timestamp > 1700000000000", [attr("timestamp_ms", ">", 1700000000000)]),
    ("timestamp>=-5", [attr("timestamp_ms", ">=", -5)]),
    ("timestamp_ms <= 1.5", [attr("timestamp_ms", "<=", 1.5)]),
    ("trace.timestamp > 1.5", [attr("timestamp_ms", ">", 1.5)]),
    ("`timestamp` < 1e3", [attr("timestamp_ms", "<", 1000.0)]),
    ("trace.timestamp_ms = '5'", [attr("timestamp_ms", "=", 5)]),
    (
        "execution_time < 100 AND status = 'OK'",
        [attr("execution_time_ms", "<", 100), attr("status", "=", "OK")],
    ),
    ("execution_time_ms != 0", [attr("execution_time_ms", "!=", 0)]),
    ("end_time >= 10 and end_time_ms < 20", [attr("end_time_ms", ">=", 10), attr("end_time_ms", "<", 20)]),
    ("timestamp > 5 AND timestamp < 10", [attr("timestamp_ms", ">", 5), attr("timestamp_ms", "<", 10)]),
    # keys MLflow maps to tags, metadata and spans
    ("name = 'predict'", [tag(NAME, "=", "predict")]),
    ("trace.name LIKE 'pred%'", [tag(NAME, "LIKE", "pred%")]),
    ("name IS NULL", [tag(NAME, "IS NULL", None)]),
    ("run_id = 'abc123'", [meta(SOURCE_RUN, "=", "abc123")]),
    ("run_id != 'abc123'", [meta(SOURCE_RUN, "!=", "abc123")]),
    ("run_id IS NOT NULL", [meta(SOURCE_RUN, "IS NOT NULL", None)]),
    ("prompt = 'qa-prompt/3'", [tag(PROMPTS, "=", "qa-prompt/3")]),
    ("trace.text LIKE '%hello%'", [span("content", "LIKE", "%hello%")]),
    ("`text` ILIKE '%hello%'", [span("content", "ILIKE", "%hello%")]),
    ("attributes.text ILIKE '%x%'", [span("content", "ILIKE", "%x%")]),
    # tags
    ("tags.`mlflow.traceName` = 'x'", [tag(NAME, "=", "x")]),
    ("tags.mlflow.traceName != 'x'", [tag(NAME, "!=", "x")]),
    ("tags.env = 'prod'", [tag("env", "=", "prod")]),
    ("tag.env RLIKE 'pr.*'", [tag("env", "RLIKE", "pr.*")]),
    ("tags.`my tag` LIKE '%a%'", [tag("my tag", "LIKE", "%a%")]),
    ("tags.\"my tag\" ILIKE 'a'", [tag("my tag", "ILIKE", "a")]),
    ("tags.'my tag' = 'a'", [tag("my tag", "=", "a")]),
    ("`tags`.env = 'prod'", [tag("env", "=", "prod")]),
    ("tags.env IS NULL", [tag("env", "IS NULL", None)]),
    ("tags.env is not null", [tag("env", "IS NOT NULL", None)]),
    ("tags.x = 'it''s'", [tag("x", "=", "it''s")]),
    ("tags.NAME = 'x'", [tag(NAME, "=", "x")]),
    ("tags.run_id = 'r'", [meta(SOURCE_RUN, "=", "r")]),
    ("tags.timestamp = 'x'", [tag("timestamp_ms", "=", "x")]),
    ("tags.`mlflow.linkedPrompts` = 'p/1'", [tag(PROMPTS, "=", "p/1")]),
    # metadata
    ("metadata.`mlflow.user` = 'alice'", [meta("mlflow.user", "=", "alice")]),
    ("request_metadata.`mlflow.user` LIKE 'a%'", [meta("mlflow.user", "LIKE", "a%")]),
    ("metadata.`mlflow.sourceRun` = 'r'", [meta(SOURCE_RUN, "=", "r")]),
    ("metadata.`mlflow.trace.session` RLIKE 's'", [meta("mlflow.trace.session", "RLIKE", "s")]),
    ("metadata.x IS NULL", [meta("x", "IS NULL", None)]),
    ("metadata.x IS NOT NULL", [meta("x", "IS NOT NULL", None)]),
    ("metadata.`mlflow.trace.tokenUsage` = '{}'", [meta("mlflow.trace.tokenUsage", "=", "{}")]),
    ("metadata.`mlflow.trace.cost` IS NULL", [meta("mlflow.trace.cost", "IS NULL", None)]),
    # spans
    ("span.name = 'x'", [span("name", "=", "x")]),
    ("span.name LIKE '%retr%'", [span("name", "LIKE", "%retr%")]),
    ("span.type IN ('LLM', 'CHAIN')", [span("type", "IN", ("LLM", "CHAIN"))]),
    ("span.status not in ('OK')", [span("status", "NOT IN", ("OK",))]),
    ("span.status RLIKE 'E.*'", [span("status", "RLIKE", "E.*")]),
    ("span.content ILIKE '%x%'", [span("content", "ILIKE", "%x%")]),
    ("span.attributes.model LIKE '%gpt%'", [span("attributes.model", "LIKE", "%gpt%")]),
    ("span.attributes.`llm.model` RLIKE 'gpt'", [span("attributes.llm.model", "RLIKE", "gpt")]),
    ("span.attributes.a.b = 'x'", [span("attributes.a.b", "=", "x")]),
    ("tags.text LIKE '%x%'", [span("content", "LIKE", "%x%")]),
    ("tags.text like '%x%'", [span("content", "LIKE", "%x%")]),
    # assessments
    ("feedback.correctness = 'yes'", [Comparison("feedback", "correctness", "=", "yes")]),
    ("feedback.`my score` != 'no'", [Comparison("feedback", "my score", "!=", "no")]),
    ("feedback.score > 0.5", [Comparison("feedback", "score", ">", 0.5)]),
    ("feedback.score <= 3", [Comparison("feedback", "score", "<=", 3)]),
    ("feedback.score >= -1.5", [Comparison("feedback", "score", ">=", -1.5)]),
    ("feedback.tone LIKE '%calm%'", [Comparison("feedback", "tone", "LIKE", "%calm%")]),
    ("feedback.tone RLIKE 'c'", [Comparison("feedback", "tone", "RLIKE", "c")]),
    ("feedback.tone IS NULL", [Comparison("feedback", "tone", "IS NULL", None)]),
    ("expectation.answer = 'Paris'", [Comparison("expectation", "answer", "=", "Paris")]),
    ("expectation.answer IS NOT NULL", [Comparison("expectation", "answer", "IS NOT NULL", None)]),
    ("expectation.n < 2", [Comparison("expectation", "n", "<", 2)]),
    ("feedback.timestamp > 5", [Comparison("feedback", "timestamp_ms", ">", 5)]),
    ("feedback.name = 'x'", [tag(NAME, "=", "x")]),  # MLflow maps `name` whatever the prefix
    ("issue.name = 'x'", [tag(NAME, "=", "x")]),
    # AND, tolerated where MLflow tolerates it
    (
        "trace.status = 'OK' AND span.name = 'x' AND feedback.correctness = 'yes' AND run_id = 'r'",
        [
            attr("status", "=", "OK"),
            span("name", "=", "x"),
            Comparison("feedback", "correctness", "=", "yes"),
            meta(SOURCE_RUN, "=", "r"),
        ],
    ),
    ("AND status = 'OK' AND", [attr("status", "=", "OK")]),
    ("status = 'OK' AND AND tags.a = 'b'", [attr("status", "=", "OK"), tag("a", "=", "b")]),
    ("status='OK'\tand\ntags.a='b'", [attr("status", "=", "OK"), tag("a", "=", "b")]),
]


@pytest.mark.parametrize(("filter_string", "expected"), VALID_FILTERS)
def test_valid_filter_parses_as_mlflow_parses_it(mlflow_traces, filter_string, expected):
    mlflow_traces(filter_string)
    theirs = [mlflow_view(d) for d in SearchTraceUtils.parse_search_filter_for_search_traces(filter_string)]
    ours = parse_trace_filter(filter_string)
    assert ours == expected
    assert theirs == expected
    # Equal numbers compare equal across int and float; the SQL layer cares which one it gets.
    assert [type(c.value) for c in ours] == [type(c.value) for c in theirs]


INVALID_FILTERS = [
    # syntax
    "   ",
    "status = 'OK' OR status = 'ERROR'",
    "(status = 'OK')",
    "status = 'OK';",
    "status = 'OK'; status = 'ERROR'",
    "status = OK",
    "status = `OK`",
    "'status' = 'OK'",
    "status 'OK'",
    "status = 'OK",
    "tags.a-b = 'x'",
    "tags . a = 'x'",
    # prefixes and keys
    "metric.acc > 1",
    "run.status = 'OK'",
    "attr.status = 'OK'",
    "`tags.a` = 'x'",
    "trace_id = 'tr-1'",
    "state = 'OK'",
    "foo = 'x'",
    "experiment_id = '1'",
    "TIMESTAMP > 5",
    "span.foo = 'x'",
    "span.attributes. = 'x'",
    "feedback.`` = 'x'",
    # comparators
    "status > 'OK'",
    "status IS NULL",
    "status <> 'OK'",
    "status == 'OK'",
    "tags.a NOT LIKE 'x'",
    "tags.a REGEXP 'x'",
    "tags.a IN ('x')",
    "tags.a > 'x'",
    "name IN ('a', 'b')",
    "run_id IN ('a')",
    "run_id LIKE",
    "metadata.a IN ('x')",
    "metadata.`mlflow.trace.tokenUsage` LIKE '%x%'",
    "metadata.`mlflow.trace.cost` RLIKE 'x'",
    "timestamp_ms LIKE '5'",
    "timestamp_ms IN ('5')",
    "execution_time IS NULL",
    "span.name > 'x'",
    "span.name IS NULL",
    "span.status IS NOT NULL",
    "span.content = 'x'",
    "span.content RLIKE 'x'",
    "trace.text = 'x'",
    "tags.text = 'x'",
    "text IN ('x')",
    "span.attributes.model IN ('gpt')",
    "feedback.x IN ('a')",
    "feedback.x NOT LIKE 'a'",
    "prompt LIKE 'a/1'",
    "prompt IS NULL",
    "prompt = 'nameonly'",
    "prompt = 'a/b/1'",
    # values
    "status = 5",
    "request_id = 5",
    "tags.a = 1",
    "metadata.a = 1",
    "span.name = 1",
    "timestamp_ms = 5abc",
    "timestamp_ms IN (5)",
    "request_id IN ()",
    "request_id IN ('a', 1)",
    "request_id IN 'a'",
    "status = ('a', 'b')",
    "span.name = ('a', 'b')",
    "span.content LIKE ('a')",
    "feedback.score > '0.5'",
    "feedback.score = 1",
    "feedback.score = 1.5",
    "feedback.score LIKE 5",
    "feedback.x = yes",
    "expectation.x = true",
    # what MLflow's SQL tokenizer refuses: bare `text` and bare `timestamp` without an integer
    "text LIKE '%x%'",
    "text ILIKE '%x%'",
    "timestamp > 1.5",
    "timestamp = '5'",
    "timestamp > 1e3",
    "timestamp IS NULL",
    "timestamp LIKE '5'",
    # lower-case comparators on span keys, which MLflow checks as written
    "span.name like 'x'",
    "span.name In ('a')",
    "span.content ilike '%x%'",
]


@pytest.mark.parametrize("filter_string", INVALID_FILTERS)
def test_invalid_filter_is_rejected_by_mlflow_and_by_us(mlflow_traces, filter_string):
    with pytest.raises(MlflowException):
        mlflow_traces(filter_string)
    with pytest.raises(ApiError) as err:
        parse_trace_filter(filter_string)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert err.value.message


def test_no_filter_means_no_comparisons(mlflow_traces):
    mlflow_traces(None)
    mlflow_traces("")
    assert parse_trace_filter(None) == []
    assert parse_trace_filter("") == []


def test_values_keep_their_type():
    ours = parse_trace_filter("timestamp > 5 AND execution_time_ms < 2.5 AND feedback.s > 1 AND tags.t = '5'")
    assert [type(c.value) for c in ours] == [int, float, int, str]
    assert parse_trace_filter("trace.end_time = '7'") == [attr("end_time_ms", "=", 7)]


def test_error_messages_name_the_fault():
    cases = [
        ("status = 'a' OR status = 'b'", "OR"),
        ("trace_id = 'x'", "Invalid attribute key 'trace_id'"),
        ("metrics.acc > 1", "Invalid entity type 'metrics'"),
        ("span.foo = 'x'", "Invalid span attribute 'foo'"),
        ("span.attributes. = 'x'", "Span attribute name cannot be empty"),
        ("feedback.`` = 'x'", "Assessment field name cannot be empty"),
        ("feedback.s > 'a'", "Expected a numeric value for feedback when using comparator '>'"),
        ("feedback.s = 1", r"Expected a quoted string value for feedback \(e.g. 'my-value'\)"),
        ("request_id = 5", "support comparison with numeric values"),
        ("timestamp_ms IN ('5')", "support comparison with a list of quoted string values"),
        ("status = OK", "not quoted"),
        ("prompt LIKE 'a/1'", "Only '=' is supported with format: prompt"),
        ("prompt = 'a'", "Invalid prompts filter value 'a'"),
        ("metadata.`mlflow.trace.cost` LIKE 'x'", "reserved metadata 'mlflow.trace.cost'"),
        ("span.content = 'x'", "Invalid comparator '=' for span.content"),
        ("status IS NULL", "Invalid comparator 'IS NULL' for trace attribute 'status'"),
        ("text LIKE '%x%'", "trace.text"),
        ("issue.id = 'iss-1'", "issue"),
    ]
    for filter_string, message in cases:
        with pytest.raises(ApiError, match=message):
            parse_trace_filter(filter_string)


# --- deliberate differences from MLflow, each asserted on both sides ---------------------------


def test_issue_filters_are_refused_with_a_clear_message(mlflow_traces):
    # MLflow links traces to issues through its assessments table; flowport does not serve issues.
    mlflow_traces("issue.id = 'iss-1'")
    assert SearchTraceUtils.parse_search_filter_for_search_traces("issue.id = 'iss-1'")[0]["type"] == "issue"
    with pytest.raises(ApiError, match="not supported") as err:
        parse_trace_filter("issue.id = 'iss-1'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("filter_string", ["timestamp_ms = 'abc'", "trace.execution_time > 'x'"])
def test_numeric_attributes_refuse_quoted_text(mlflow_traces, filter_string):
    # MLflow hands the text to the database: SQLite compares it as text, PostgreSQL fails.
    mlflow_traces(filter_string)
    with pytest.raises(ApiError, match="Expected numeric value type for numeric attribute") as err:
        parse_trace_filter(filter_string)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_quoted_numbers_on_numeric_attributes_are_numbers(mlflow_traces):
    # MLflow keeps '5' as text, and then fails (an INTERNAL_ERROR) once a span filter needs the
    # number; '5' alone it accepts.
    mlflow_traces("trace.timestamp_ms >= '5'")
    filter_string = "trace.timestamp_ms >= '5' AND span.name = 'x'"
    with pytest.raises(MlflowException, match="unsupported operand") as err:
        mlflow_traces(filter_string)
    assert err.value.error_code == "INTERNAL_ERROR"
    assert SearchTraceUtils.parse_search_filter_for_search_traces(filter_string)[0]["value"] == "5"
    assert parse_trace_filter(filter_string) == [attr("timestamp_ms", ">=", 5), span("name", "=", "x")]


@pytest.mark.parametrize("filter_string", ["span.attributes.a = ('x', 'y')", "span.attributes.a LIKE ('x')"])
def test_lists_need_in_even_on_span_attributes(mlflow_traces, filter_string):
    # MLflow formats the tuple into its LIKE pattern and searches for that text.
    mlflow_traces(filter_string)
    with pytest.raises(ApiError, match="only allowed with IN / NOT IN"):
        parse_trace_filter(filter_string)


# --- order_by -----------------------------------------------------------------------------------


def mlflow_order_key(clause: str) -> OrderKey:
    kind, key, ascending = SearchTraceUtils.parse_order_by_for_search_traces(clause)
    return OrderKey("metadata" if kind == "request_metadata" else kind, key, ascending)


VALID_ORDER_BY = [
    (["timestamp"], [OrderKey("attribute", "timestamp_ms", True)]),
    (["timestamp DESC"], [OrderKey("attribute", "timestamp_ms", False)]),
    (["timestamp_ms desc"], [OrderKey("attribute", "timestamp_ms", False)]),
    (["timestamp  ASC"], [OrderKey("attribute", "timestamp_ms", True)]),
    (["execution_time DESC"], [OrderKey("attribute", "execution_time_ms", False)]),
    (["attributes.execution_time_ms"], [OrderKey("attribute", "execution_time_ms", True)]),
    (
        ["status", "request_id DESC"],
        [OrderKey("attribute", "status", True), OrderKey("attribute", "request_id", False)],
    ),
    (["trace.experiment_id"], [OrderKey("attribute", "experiment_id", True)]),
    (["name DESC"], [OrderKey("tag", NAME, False)]),
    (["run_id"], [OrderKey("metadata", SOURCE_RUN, True)]),
    (["tags.env"], [OrderKey("tag", "env", True)]),
    (["tags.`my tag` DESC"], [OrderKey("tag", "my tag", False)]),
    (["tags.name"], [OrderKey("tag", NAME, True)]),
    (["tags.run_id"], [OrderKey("metadata", SOURCE_RUN, True)]),
    (["metadata.`mlflow.user` ASC"], [OrderKey("metadata", "mlflow.user", True)]),
    (["request_metadata.`mlflow.trace.session`"], [OrderKey("metadata", "mlflow.trace.session", True)]),
    (["feedback.name"], [OrderKey("tag", NAME, True)]),
]

INVALID_ORDER_BY = [
    [""],
    [" timestamp"],
    ["status "],
    ["timestamp foo"],
    ["status ASC DESC"],
    ["TIMESTAMP"],
    ["text"],
    ["prompt"],
    ["client_request_id"],
    ["trace_id"],
    ["x"],
    ["run.status"],
    ["span.name"],
    ["feedback.score DESC"],
    ["expectation.answer"],
    ["issue.id"],
    ["tags.text"],
    ["metadata.`mlflow.trace.tokenUsage`"],
    ["metadata.`mlflow.trace.cost` DESC"],
    ["status, request_id"],
    ["tags.a", "tags.a DESC"],
    ["timestamp", "timestamp_ms DESC"],
    ["name", "tags.`mlflow.traceName`"],
    ["run_id", "metadata.`mlflow.sourceRun`"],
]


@pytest.mark.parametrize(("clauses", "expected"), VALID_ORDER_BY)
def test_valid_order_by_parses_as_mlflow_parses_it(mlflow_traces, clauses, expected):
    mlflow_traces(order_by=clauses)
    assert [mlflow_order_key(c) for c in clauses] == expected
    assert parse_trace_order_by(clauses) == expected


@pytest.mark.parametrize("clauses", INVALID_ORDER_BY)
def test_invalid_order_by_is_rejected_by_mlflow_and_by_us(mlflow_traces, clauses):
    with pytest.raises(MlflowException):  # duplicates are an INTERNAL_ERROR in MLflow
        mlflow_traces(order_by=clauses)
    with pytest.raises(ApiError) as err:
        parse_trace_order_by(clauses)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_no_order_by_is_empty():
    assert parse_trace_order_by(None) == []
    assert parse_trace_order_by([]) == []


@pytest.mark.parametrize("clause", ["end_time", "end_time_ms DESC"])
def test_order_by_end_time_is_taken_although_mlflows_store_fails_on_it(mlflow_traces, clause):
    # MLflow's grammar lists end_time, but its store looks for a column that does not exist.
    with pytest.raises(MlflowException, match="end_time_ms"):
        mlflow_traces(order_by=[clause])
    assert parse_trace_order_by([clause]) == [mlflow_order_key(clause)]
    assert parse_trace_order_by([clause])[0].key == "end_time_ms"

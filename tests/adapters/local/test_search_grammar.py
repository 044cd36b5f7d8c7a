"""The search grammar against MLflow 3.17.2 itself: its parsers and its real SQLAlchemy stores.

For each string, a valid one must parse as MLflow parses it (kind, key, comparator, value) and be
accepted by MLflow's store; an invalid one must be rejected by MLflow's store and by us with
INVALID_PARAMETER_VALUE. Deliberate differences are listed, and asserted, at the end.
"""

from __future__ import annotations

import base64
import json

import pytest
from mlflow.entities import ViewType
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as MlflowRegistryStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as MlflowTrackingStore
from mlflow.utils import search_logged_model_utils
from mlflow.utils.search_utils import (
    SearchExperimentsUtils,
    SearchLoggedModelsUtils,
    SearchModelUtils,
    SearchModelVersionUtils,
    SearchUtils,
)

from flowport.adapters.local.search import (
    Comparison,
    OrderKey,
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_logged_model_filter,
    parse_logged_model_order_by,
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from flowport.v1.errors import ApiError


@pytest.fixture(scope="module")
def mlflow_stores(tmp_path_factory):
    """MLflow's own tracking and registry stores on a fresh SQLite file: the judges."""
    root = tmp_path_factory.mktemp("mlflow-reference")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracking = MlflowTrackingStore(uri, str(root / "artifacts"))
    registry = MlflowRegistryStore(uri)
    yield tracking, registry
    tracking.engine.dispose()
    registry.engine.dispose()


OURS_FILTER = {
    "runs": parse_run_filter,
    "experiments": parse_experiment_filter,
    "registered_models": parse_registered_model_filter,
    "model_versions": parse_model_version_filter,
    "logged_models": parse_logged_model_filter,
}
MLFLOW_PARSER = {
    "runs": SearchUtils.parse_search_filter,
    "experiments": SearchExperimentsUtils.parse_search_filter,
    "registered_models": SearchModelUtils.parse_search_filter,
    "model_versions": SearchModelVersionUtils.parse_search_filter,
    "logged_models": SearchLoggedModelsUtils.parse_search_filter,
}
# Aliases MLflow resolves after parsing (SearchUtils.translate_key_alias, SqlLoggedModel.ALIASES).
ATTRIBUTE_ALIASES = {
    "runs": {
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    "logged_models": {"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
}
NUMERIC_ATTRIBUTES = {
    "runs": {"start_time", "end_time"},
    "experiments": {"creation_time", "last_update_time"},
    "model_versions": {"version_number"},
    "logged_models": {"creation_timestamp", "last_updated_timestamp"},
}


def mlflow_store_search(stores, search: str, filter_string: str | None = None, order_by=None) -> None:
    tracking, registry = stores
    if search == "runs":
        tracking.search_runs(["0"], filter_string, ViewType.ALL, order_by=order_by)
    elif search == "experiments":
        tracking.search_experiments(filter_string=filter_string, order_by=order_by)
    elif search == "registered_models":
        registry.search_registered_models(filter_string, order_by=order_by)
    elif search == "model_versions":
        registry.search_model_versions(filter_string, order_by=order_by)
    else:
        tracking.search_logged_models(["0"], filter_string)


def mlflow_view(search: str, parsed: dict) -> Comparison:
    """MLflow's parse result in our canonical form (kinds singular, aliases resolved, typed values)."""
    kind = "param" if parsed["type"] == "parameter" else parsed["type"]
    key, op, value = parsed["key"], parsed["comparator"].upper(), parsed["value"]
    if kind == "attribute":
        key = ATTRIBUTE_ALIASES.get(search, {}).get(key, key)
    if kind == "metric":
        value = float(value)
    elif kind == "attribute" and key in NUMERIC_ATTRIBUTES.get(search, ()) and isinstance(value, str):
        value = int(value)  # the store's int() of a quoted version number
    return Comparison(kind, key, op, value)


VALID_FILTERS = [
    ("runs", "metrics.acc > 0.5"),
    ("runs", "metrics.acc >= -1"),
    ("runs", "metric.acc < 1e3"),
    ("runs", "metrics.loss <= 1.5E-3"),
    ("runs", "metrics.acc != .5"),
    ("runs", "metrics.acc = 5."),
    ("runs", 'metrics."my metric" = 1'),
    ("runs", "metrics.`my metric` = 1"),
    ("runs", "`metrics`.acc = 1"),
    ("runs", "metrics.acc=1"),
    ("runs", "metrics.acc_1 > 1 and metrics.1acc < 2"),
    ("runs", "metrics.`acc/val` > 1"),
    ("runs", "params.x = 'a'"),
    ("runs", 'params.x = "a"'),
    ("runs", "param.x != 'a'"),
    ("runs", "parameter.x LIKE 'a%'"),
    ("runs", "parameters.x like 'a%'"),
    ("runs", "params.x ILIKE '%A'"),
    ("runs", "params.x IS NULL"),
    ("runs", "params.x is not null"),
    ("runs", "params.`a b` = 'c'"),
    ("runs", "params.'a b' = 'c'"),
    ("runs", "params.a.b = 'c'"),
    ("runs", "params.x = 'it''s'"),
    ("runs", 'params.x = "a\'b"'),
    ("runs", "params.x = ''"),
    ("runs", "tags.mlflow.runName = 'x'"),
    ("runs", "tags.`mlflow.runName` = 'x'"),
    ("runs", 'tag.a LIKE "b%"'),
    ("runs", "tags.a IS NOT NULL"),
    ("runs", "attributes.run_id IN ('a', 'b')"),
    ("runs", "attributes.run_id not in ('a', \"b\",)"),
    ("runs", "run_id = 'abc'"),
    ("runs", "run_id LIKE 'a%'"),
    ("runs", "attributes.start_time > 1"),
    ("runs", "start_time >= 1.5"),
    ("runs", "end_time = 5"),
    ("runs", "created > 1"),
    ("runs", "Created > 1"),
    ("runs", "`run name` = 'x'"),
    ("runs", "\"run name\" = 'x'"),
    ("runs", "attributes.`Run Name` = 'x'"),
    ("runs", "attribute.run_name = 'x'"),
    ("runs", "run.run_name ILIKE 'x%'"),
    ("runs", "attr.status = 'FINISHED'"),
    ("runs", "status != 'FAILED' AND user_id LIKE 'x' AND artifact_uri = 'x'"),
    ("runs", "datasets.name = 'x'"),
    ("runs", "dataset.digest IN ('x','y')"),
    ("runs", "datasets.context = 'train'"),
    ("runs", "datasets.name NOT IN ('a', 'b') and datasets.name LIKE 'a%'"),
    ("runs", "params.x='a'AND params.y='b'"),
    ("runs", "params.x = 'a' and params.y = 'b' And params.z = 'c'"),
    ("runs", "metrics.acc > 1 AND"),
    ("runs", "AND metrics.acc > 1"),
    ("runs", "params.x = 'a' AND AND params.y = 'b'"),
    ("runs", "metrics.acc > 1 metrics.b > 2"),
    ("runs", "params.x = 'a' AND metrics.y > 1.0 AND tags.`a.b` != \"c\""),
    ("experiments", "name = 'a'"),
    ("experiments", "name LIKE 'a%' AND tags.x = 'y'"),
    ("experiments", "attribute.name ILIKE 'a%'"),
    ("experiments", "tag.x != 'a'"),
    ("experiments", "tags.x IS NULL"),
    ("experiments", "tags.`x y` IS NOT NULL"),
    ("experiments", "experiment_id = '1'"),
    ("experiments", "experiment_id IN ('1', '2')"),
    ("experiments", "experiment_id NOT IN ('3')"),
    ("experiments", "creation_time > 1"),
    ("experiments", "last_update_time <= 100"),
    ("experiments", "\"name\" = 'a'"),
    ("experiments", "`name` = 'a'"),
    ("registered_models", "name = 'a'"),
    ("registered_models", "name LIKE 'a%'"),
    ("registered_models", "name IN ('a', 'b')"),
    ("registered_models", "name NOT IN ('a')"),
    ("registered_models", "attribute.name != 'a'"),
    ("registered_models", "tags.x = 'a'"),
    ("registered_models", "tag.`a b` ILIKE 'a'"),
    ("model_versions", "name = 'a'"),
    ("model_versions", "run_id = 'a'"),
    ("model_versions", "run_id IN ('a', 'b')"),
    ("model_versions", "name NOT IN ('a', 'b')"),
    ("model_versions", "source_path LIKE 's3://%'"),
    ("model_versions", "version_number = 1"),
    ("model_versions", "version_number >= 2 AND name = 'm'"),
    ("model_versions", "version_number = '3'"),
    ("model_versions", "attribute.run_id = 'a'"),
    ("model_versions", "tags.x = 'a'"),
    ("logged_models", "name = 'a'"),
    ("logged_models", "metrics.acc > 0.5"),
    ("logged_models", "params.lr = '0.01'"),
    ("logged_models", 'params.lr = "0.01"'),
    ("logged_models", "attributes.name = 'a'"),
    ("logged_models", "creation_time > 5"),
    ("logged_models", "creation_timestamp > 5"),
    ("logged_models", "last_updated_timestamp < 5"),
    ("logged_models", "metrics.`my m` > 1"),
    ("logged_models", "status = 'READY'"),
    ("logged_models", "model_id IN ('a')"),
    ("logged_models", "source_run_id = 'x'"),
    ("logged_models", "name like 'a%'"),
    ("logged_models", "tags.x != 'y'"),
]

INVALID_FILTERS = [
    ("runs", " "),
    ("runs", "metrics.acc > 0x1F"),
    ("runs", "metrics.acc > '1'"),
    ("runs", "metrics.acc > 1e"),
    ("runs", "metrics.acc > NULL"),
    ("runs", "metrics.acc > +1"),
    ("runs", "metrics.acc > 1.2.3"),
    ("runs", "metrics.acc >= 1 OR params.x = 'a'"),
    ("runs", "metric.acc == 1"),
    ("runs", "metric.acc <> 1"),
    ("runs", "metrics.x LIKE 1"),
    ("runs", "metrics.x IS NULL"),
    ("runs", "params.x NOT LIKE 'a%'"),
    ("runs", "params.x = a"),
    ("runs", "params.x = 1"),
    ("runs", "params.x < 'a'"),
    ("runs", "params.x IN ('a')"),
    ("runs", "params.x IS 'a'"),
    ("runs", "params.x NOT NULL"),
    ("runs", "params.my-param = 'x'"),
    ("runs", "tags.x > 'a'"),
    ("runs", "tags.x NOT IN ('a')"),
    ("runs", "attributes.status IS NULL"),
    ("runs", "status IN ('A')"),
    ("runs", "status > 'a'"),
    ("runs", "start_time LIKE 5"),
    ("runs", "attributes.start_time > '1'"),
    ("runs", "attributes.foo = 'x'"),
    ("runs", "attributes.lifecycle_stage = 'x'"),
    ("runs", "run_id IN ()"),
    ("runs", "run_id IN (1, 2)"),
    ("runs", "attributes.run_id IN 'a'"),
    ("runs", "datasets.foo = 'x'"),
    ("runs", "datasets.name = 1"),
    ("runs", "datasets.name > 'a'"),
    ("runs", "foo.bar = 'x'"),
    ("runs", "METRICS.x > 1"),
    ("runs", "metrics.acc > 1;"),
    ("runs", "metrics.acc > 1; params.a = 'b'"),
    ("runs", "(metrics.acc > 1)"),
    ("runs", "metrics.acc"),
    ("runs", "metrics.acc >"),
    ("runs", "metrics.acc > 1 AND (params.a = 'b')"),
    ("runs", "params.a = 'b' -- c"),
    ("runs", "'status' = 'x'"),
    ("runs", ".x = 'x'"),
    ("experiments", "attributes.name = 'a'"),
    ("experiments", "attr.name = 'a'"),
    ("experiments", "metrics.a > 1"),
    ("experiments", "params.a = 'x'"),
    ("experiments", "name IS NULL"),
    ("experiments", "name IN ('a')"),
    ("experiments", "name > 'a'"),
    ("experiments", "experiment_id = 1"),
    ("experiments", "experiment_id = 'abc'"),
    ("experiments", "experiment_id IN (1, 2)"),
    ("experiments", "experiment_id LIKE '1%'"),
    ("experiments", "creation_time > 1.5"),
    ("experiments", "creation_time > '1'"),
    ("experiments", "lifecycle_stage = 'active'"),
    ("registered_models", "attributes.name = 'a'"),
    ("registered_models", "tags.x IS NULL"),
    ("registered_models", "tags.x IN ('a')"),
    ("registered_models", "tags.x > 'a'"),
    ("registered_models", "name = 1"),
    ("registered_models", "run_id = 'a'"),
    ("registered_models", "creation_timestamp > 1"),
    ("model_versions", "source_path IN ('a')"),
    ("model_versions", "version_number > 1.5"),
    ("model_versions", "version_number = 'abc'"),
    ("model_versions", "version_number IN ('1')"),
    ("model_versions", "version_number LIKE '1'"),
    ("model_versions", "tags.x IS NULL"),
    ("model_versions", "creation_timestamp > 1"),
    ("model_versions", "metrics.a > 1"),
    ("model_versions", "version = 1"),
    ("logged_models", "params.x IS NULL"),
    ("logged_models", "creation_time LIKE '5'"),
    ("logged_models", "metrics.acc LIKE '5'"),
    ("logged_models", "foo = 'x'"),
    ("logged_models", "datasets.name = 'x'"),
    ("logged_models", "name = 'a' OR name = 'b'"),
]


@pytest.mark.parametrize(("search", "filter_string"), VALID_FILTERS)
def test_valid_filter_parses_as_mlflow_parses_it(mlflow_stores, search, filter_string):
    ours = OURS_FILTER[search](filter_string)
    theirs = [mlflow_view(search, d) for d in MLFLOW_PARSER[search](filter_string)]
    assert ours == theirs
    # Equal numbers compare equal across int and float; the SQL layer cares which one it gets.
    assert [type(c.value) for c in ours] == [type(c.value) for c in theirs]
    mlflow_store_search(mlflow_stores, search, filter_string)


@pytest.mark.parametrize(("search", "filter_string"), INVALID_FILTERS)
def test_invalid_filter_is_rejected_by_mlflow_and_by_us(mlflow_stores, search, filter_string):
    with pytest.raises(Exception):  # noqa: B017 - MLflow answers some of these with a bare ValueError
        mlflow_store_search(mlflow_stores, search, filter_string)
    with pytest.raises(ApiError) as err:
        OURS_FILTER[search](filter_string)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert err.value.message


@pytest.mark.parametrize("parse", list(OURS_FILTER.values()))
def test_no_filter_means_no_comparisons(parse):
    assert parse(None) == []
    assert parse("") == []


def test_values_keep_their_type_and_canonical_shape():
    assert parse_run_filter("metrics.m = 3 AND start_time > 3 AND params.p = '3'") == [
        Comparison("metric", "m", "=", 3.0),
        Comparison("attribute", "start_time", ">", 3),
        Comparison("param", "p", "=", "3"),
    ]
    assert isinstance(parse_run_filter("metrics.m = 3")[0].value, float)
    assert parse_run_filter("tags.t IS NULL") == [Comparison("tag", "t", "IS NULL", None)]
    assert parse_experiment_filter("experiment_id IN ('01', '2')") == [
        Comparison("attribute", "experiment_id", "IN", ("1", "2"))
    ]


def test_error_messages_name_the_fault():
    with pytest.raises(ApiError, match="OR"):
        parse_run_filter("params.a = 'b' OR params.a = 'c'")
    with pytest.raises(ApiError, match="Invalid attribute key 'foo'"):
        parse_run_filter("attributes.foo = 'x'")
    with pytest.raises(ApiError, match="Expected numeric value type for metric"):
        parse_run_filter("metrics.acc > 'high'")
    with pytest.raises(ApiError, match=r"Only \['run_id'\] attributes support"):
        parse_run_filter("status IN ('RUNNING')")
    with pytest.raises(ApiError, match="unterminated"):
        parse_run_filter("params.a = 'b")


# --- deliberate differences from MLflow, each asserted on both sides ---------------------------


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("params.lr = 0.01", Comparison("param", "lr", "=", "0.01")),
        ("tags.t IN ('a', 'b')", Comparison("tag", "t", "IN", ("a", "b"))),
        ("params.p NOT IN ('a')", Comparison("param", "p", "NOT IN", ("a",))),
    ],
)
def test_logged_models_take_what_mlflows_sql_store_takes(mlflow_stores, filter_string, expected):
    # SearchLoggedModelsUtils rejects these, but the SQL store (what `mlflow server` runs, and
    # whose own error message suggests `params.lr = 0.01`) accepts them.
    mlflow_store_search(mlflow_stores, "logged_models", filter_string)
    theirs = search_logged_model_utils.parse_filter_string(filter_string)[0]
    assert (theirs.op, theirs.value) == (expected.op, expected.value)
    assert parse_logged_model_filter(filter_string) == [expected]


def test_logged_models_reject_bare_words_that_mlflows_sql_store_takes_as_text(mlflow_stores):
    # `params.lr = abc` is far more likely a forgotten quote than a value; MLflow's other parser
    # (SearchLoggedModelsUtils) and every other search reject it too.
    mlflow_store_search(mlflow_stores, "logged_models", "params.lr = abc")
    with pytest.raises(ApiError, match="not quoted"):
        parse_logged_model_filter("params.lr = abc")


@pytest.mark.parametrize("filter_string", ["metric.acc <= 1", "attribute.name LIKE 'a%'", "param.p = 'x'"])
def test_logged_model_singular_prefixes_are_accepted_as_searchloggedmodelsutils_does(
    mlflow_stores, filter_string
):
    # MLflow's two logged-model parsers disagree: SearchLoggedModelsUtils (file store) takes every
    # run prefix alias, the SQL store only the plural ones. We take the aliases, as runs do.
    theirs = [mlflow_view("logged_models", d) for d in MLFLOW_PARSER["logged_models"](filter_string)]
    with pytest.raises(Exception):  # noqa: B017
        mlflow_store_search(mlflow_stores, "logged_models", filter_string)
    assert parse_logged_model_filter(filter_string) == theirs


def test_empty_keys_are_rejected_although_mlflow_accepts_them():
    assert SearchUtils.parse_search_filter("params.`` = 'x'")[0]["key"] == ""
    for filter_string in ("params.`` = 'x'", "params. = 'x'"):
        with pytest.raises(ApiError):
            parse_run_filter(filter_string)


# --- order_by -----------------------------------------------------------------------------------

OURS_ORDER = {
    "runs": parse_run_order_by,
    "experiments": parse_experiment_order_by,
    "registered_models": parse_registered_model_order_by,
    "model_versions": parse_model_version_order_by,
}


def mlflow_order_key(search: str, clause: str) -> OrderKey:
    if search == "registered_models":
        # The SQL registry store calls the base SearchUtils version: bare keys, no prefixes.
        key, ascending = SearchUtils.parse_order_by_for_search_registered_models(clause)
        return OrderKey("attribute", "last_updated_timestamp" if key == "timestamp" else key, ascending)
    parse = {
        "runs": SearchUtils.parse_order_by_for_search_runs,
        "experiments": SearchExperimentsUtils.parse_order_by_for_search_experiments,
        "model_versions": SearchModelVersionUtils.parse_order_by_for_search_model_versions,
    }[search]
    kind, key, ascending = parse(clause)
    kind = "param" if kind == "parameter" else kind
    if kind == "attribute":
        key = ATTRIBUTE_ALIASES.get(search, {}).get(key, key)
    return OrderKey(kind, key, ascending)


VALID_ORDER_BY = [
    ("runs", ["metrics.acc"]),
    ("runs", ["metrics.acc DESC"]),
    ("runs", ["metrics.acc desc", "params.x Asc"]),
    ("runs", ["metrics.`my metric` DESC"]),
    ("runs", ['metrics."my metric" DESC']),
    ("runs", ["metrics.'my metric' ASC"]),
    ("runs", ["`metrics`.acc"]),
    ("runs", ["start_time", "attributes.end_time DESC"]),
    ("runs", ["created DESC"]),
    ("runs", ["run_name", "attr.status", "run_id ASC"]),
    ("runs", ["tags.`mlflow.runName` ASC", "tags.mlflow.user"]),
    ("runs", ["metrics.acc   DESC"]),
    ("experiments", ["name"]),
    ("experiments", ["name DESC", "experiment_id ASC"]),
    ("experiments", ["attribute.creation_time DESC"]),
    ("experiments", ["last_update_time", "`name`"]),
    ("registered_models", ["name"]),
    ("registered_models", ["name DESC", "timestamp"]),
    ("registered_models", ["last_updated_timestamp ASC"]),
    ("model_versions", ["name", "version_number DESC"]),
    ("model_versions", ["creation_timestamp"]),
    ("model_versions", ["attribute.last_updated_timestamp DESC"]),
]

INVALID_ORDER_BY = [
    ("runs", ["metrics.acc ASC NULLS LAST"]),
    ("runs", ["metrics.acc DOWN"]),
    ("runs", [" metrics.acc"]),
    ("runs", ["metrics.acc "]),
    ("runs", ["metrics.acc DESC extra"]),
    ("runs", ["metrics.acc, params.b"]),
    ("runs", ["`run name`"]),
    ("runs", ["foo"]),
    ("runs", ["timestamp"]),
    ("runs", ["experiment_id"]),
    ("runs", ["datasets.name"]),
    ("runs", [""]),
    ("runs", ["metrics.acc", "metrics.acc DESC"]),
    ("runs", ["created", "start_time"]),
    ("experiments", ["attributes.name"]),
    ("experiments", ["tags.x"]),
    ("experiments", ["foo"]),
    ("registered_models", ["creation_timestamp"]),
    ("registered_models", ["attribute.name"]),
    ("registered_models", ["tags.x"]),
    ("registered_models", ["timestamp", "last_updated_timestamp DESC"]),
    ("model_versions", ["run_id"]),
    ("model_versions", ["tags.x"]),
    ("model_versions", ["timestamp"]),
    ("model_versions", ["name", "name DESC"]),
]


@pytest.mark.parametrize(("search", "clauses"), VALID_ORDER_BY)
def test_valid_order_by_parses_as_mlflow_parses_it(mlflow_stores, search, clauses):
    assert OURS_ORDER[search](clauses) == [mlflow_order_key(search, c) for c in clauses]
    mlflow_store_search(mlflow_stores, search, order_by=clauses)


@pytest.mark.parametrize(("search", "clauses"), INVALID_ORDER_BY)
def test_invalid_order_by_is_rejected_by_mlflow_and_by_us(mlflow_stores, search, clauses):
    with pytest.raises(Exception):  # noqa: B017 - duplicates are an INTERNAL_ERROR in MLflow
        mlflow_store_search(mlflow_stores, search, order_by=clauses)
    with pytest.raises(ApiError) as err:
        OURS_ORDER[search](clauses)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_order_by_defaults_to_ascending_and_empty_is_empty():
    assert parse_run_order_by([]) == []
    assert parse_run_order_by(["metrics.acc"]) == [OrderKey("metric", "acc", True)]
    assert parse_experiment_order_by(["name", "name DESC"]) == [
        OrderKey("attribute", "name", True),
        OrderKey("attribute", "name", False),
    ]


def test_logged_model_order_by_follows_mlflow():
    for field_name, ascending in [("metrics.acc", False), ("creation_time", True), ("name", True)]:
        theirs = SearchLoggedModelsUtils.parse_order_by_for_logged_models(
            {"field_name": field_name, "ascending": ascending}
        )
        ours = parse_logged_model_order_by(field_name, ascending)
        assert (ours.key if ours.kind == "attribute" else f"metrics.{ours.key}") == theirs.field_name
        assert ours.ascending == theirs.ascending
    for bad in ("params.x", "foo", "metrics."):
        with pytest.raises(ApiError):
            parse_logged_model_order_by(bad)


# --- page tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [1, 7, 100, 1000, 123456789])
def test_page_tokens_round_trip_and_interoperate_with_mlflow(offset):
    token = encode_page_token(offset)
    assert decode_page_token(token) == offset
    assert SearchUtils.parse_start_offset_from_page_token(token) == offset
    assert decode_page_token(SearchUtils.create_page_token(offset).decode()) == offset
    # MLflow's token text is the same string, so clients cannot tell the servers apart.
    assert token == SearchUtils.create_page_token(offset).decode()


def test_no_page_token_is_the_first_page():
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "abc",
        _b64("not json"),
        _b64('{"x": 1}'),
        _b64('{"offset": "abc"}'),
        _b64('{"offset": null}'),
        _b64("\xff\xfe"),
    ],
)
def test_garbage_page_tokens_are_rejected_by_mlflow_and_by_us(token):
    with pytest.raises(Exception):  # noqa: B017
        SearchUtils.parse_start_offset_from_page_token(token)
    with pytest.raises(ApiError) as err:
        decode_page_token(token)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("payload", [[1], {"offset": -3}, {"offset": True}, {"offset": 1.5}])
def test_page_tokens_mlflow_would_misread_are_rejected(payload):
    with pytest.raises(ApiError):
        decode_page_token(_b64(json.dumps(payload)))


def test_encoding_a_negative_offset_is_a_bug():
    with pytest.raises(ValueError):
        encode_page_token(-1)

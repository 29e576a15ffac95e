"""The search attributes supervisors query cases by (`Overdue = true`, `CaseStage = "deciding"`): the
flags that register them on a dev server and the request that registers them elsewhere, checked without
a server. None of them may carry personal data: names, types and nothing else."""

from temporalio.api.enums.v1 import IndexedValueType

from domain.search_attributes import ALL_KEYS, add_request, cli_flags

EXPECTED = {
    "CaseStage": "Keyword",
    "SchoolUrn": "Keyword",
    "EducationOfficer": "Keyword",
    "NextDeadline": "Datetime",
    "Overdue": "Bool",
    "Stalled": "Bool",
    "LastProgressAt": "Datetime",
    "ProvisionKinds": "KeywordList",
}


def test_the_cli_flags_register_every_key_with_its_type():
    flags = cli_flags()
    assert flags[0::2] == ["--search-attribute"] * len(EXPECTED)
    assert flags[1::2] == [f"{name}={kind}" for name, kind in EXPECTED.items()]


def test_the_operator_request_registers_the_same_keys():
    request = add_request("casework-test")
    assert request.namespace == "casework-test"
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
        "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    assert dict(request.search_attributes) == {name: kinds[kind] for name, kind in EXPECTED.items()}
    assert [k.name for k in ALL_KEYS] == list(EXPECTED)

"""The one registry of typed search attributes. Supervisors query these in the Temporal UI
(`Overdue = true`, `CaseStage = "deciding"`). None of them may carry personal data."""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
SCHOOL_URN = SearchAttributeKey.for_keyword("SchoolUrn")
EDUCATION_OFFICER = SearchAttributeKey.for_keyword("EducationOfficer")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
STALLED = SearchAttributeKey.for_bool("Stalled")
LAST_PROGRESS_AT = SearchAttributeKey.for_datetime("LastProgressAt")
PROVISION_KINDS = SearchAttributeKey.for_keyword_list("ProvisionKinds")

ALL_KEYS: tuple[SearchAttributeKey, ...] = (
    CASE_STAGE,
    SCHOOL_URN,
    EDUCATION_OFFICER,
    NEXT_DEADLINE,
    OVERDUE,
    STALLED,
    LAST_PROGRESS_AT,
    PROVISION_KINDS,
)

# The names the `temporal` CLI takes in `--search-attribute NAME=TYPE`.
_CLI_TYPE = {
    "KEYWORD": "Keyword",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "KEYWORD_LIST": "KeywordList",
    "TEXT": "Text",
    "INT": "Int",
    "FLOAT": "Double",
}


def cli_flags() -> list[str]:
    """`--search-attribute` arguments that register every key on a dev server."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}"]
    return flags


def add_request(namespace: str) -> AddSearchAttributesRequest:
    """The operator-service request that registers every key (used where no CLI flag can)."""
    return AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS},
    )


if __name__ == "__main__":
    print(" ".join(cli_flags()))

"""Every activity the worker runs, built from settings."""

from collections.abc import Callable

from activities.case_rules import CaseRulesActivities
from activities.documents import DocumentActivities
from activities.email import EmailActivities
from activities.finance import FinanceActivities
from activities.projection import ProjectionActivities
from activities.retention import RetentionActivities
from infra.settings import Settings


def build_activities(settings: Settings) -> list[Callable]:
    rules = CaseRulesActivities(settings)
    email = EmailActivities(settings)
    documents = DocumentActivities(settings)
    finance = FinanceActivities(settings)
    projection = ProjectionActivities(settings)
    retention = RetentionActivities(settings)
    return [
        rules.load_case_rules,
        email.send_email,
        documents.store_generated_document,
        finance.post_recoupment,
        projection.project_case,
        projection.project_case_by_reference,
        retention.find_cases_past_retention,
        retention.delete_case_histories,
        retention.erase_case_records,
    ]

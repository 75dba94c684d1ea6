"""Agreement types, agreements, blocks, adjustments, cancellation and expiry."""

import dataclasses
import datetime as dt
from decimal import Decimal

import strawberry

from accounting import agreements, allowances, expiry, outbox
from api.agreements.types import Addition, Adjustment, Agreement, AgreementType
from api.allowances.types import AllowanceInput
from api.context import Info, wrap
from api.enums import ApplicationUnits
from api.fields import mutation
from api.scalars import input_id
from api.transaction import perform, perform_once
from models import Addition as AdditionRow


@strawberry.input
class CreateAgreementTypeInput:
    name: str
    application_units: ApplicationUnits
    prepaid: bool
    reverse_revenue_when_applied: bool
    allow_overruns: bool | None = None
    expire_after_months: int | None = None
    low_balance_threshold: Decimal | None = None
    low_balance_percent: Decimal | None = None
    excluded_work_type_ids: list[strawberry.ID] | None = None
    excluded_work_role_ids: list[strawberry.ID] | None = None
    expiry_warning_days: int | None = None


@strawberry.input
class CreateAgreementInput:
    company_id: strawberry.ID
    agreement_type_id: strawberry.ID
    name: str
    start_date: dt.date
    end_date: dt.date | None = None
    allow_overruns: bool | None = None
    low_balance_threshold: Decimal | None = None
    notify_emails: list[str] | None = strawberry.field(
        default=None, description="Contacts e-mailed with the agreement's notifications besides billingEmail."
    )
    allowance: AllowanceInput | None = None


@strawberry.input
class PurchaseBlockInput:
    agreement_id: strawberry.ID
    units: Decimal
    unit_price: Decimal
    product: str | None = None
    category: str | None = None
    subcategory: str | None = None
    effective_date: dt.date | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="The same key and input return the first result; other input is CONFLICT."
    )


@strawberry.input
class AdjustAgreementInput:
    agreement_id: strawberry.ID
    units: Decimal
    reason: str


@strawberry.type
class AgreementMutation:
    @strawberry.mutation
    def create_agreement_type(self, info: Info, input: CreateAgreementTypeInput) -> AgreementType:
        row = perform(
            info,
            "createAgreementType",
            details=dataclasses.asdict(input),
            change=lambda session: agreements.create_agreement_type(
                session,
                name=input.name,
                application_units=input.application_units,
                prepaid=input.prepaid,
                reverse_revenue_when_applied=input.reverse_revenue_when_applied,
                allow_overruns=bool(input.allow_overruns),
                expire_after_months=input.expire_after_months,
                low_balance_threshold=input.low_balance_threshold,
                low_balance_percent=input.low_balance_percent,
                excluded_work_type_ids=[
                    input_id(i, "excludedWorkTypeIds") for i in input.excluded_work_type_ids or ()
                ],
                excluded_work_role_ids=[
                    input_id(i, "excludedWorkRoleIds") for i in input.excluded_work_role_ids or ()
                ],
                expiry_warning_days=input.expiry_warning_days,
            ),
        )
        return wrap(info, AgreementType, row)

    @strawberry.mutation
    def create_agreement(self, info: Info, input: CreateAgreementInput) -> Agreement:
        row = perform(
            info,
            "createAgreement",
            details=dataclasses.asdict(input),
            change=lambda session: allowances.create_agreement_with_allowance(
                session,
                company_id=input_id(input.company_id, "companyId"),
                agreement_type_id=input_id(input.agreement_type_id, "agreementTypeId"),
                name=input.name,
                start_date=input.start_date,
                end_date=input.end_date,
                allow_overruns=input.allow_overruns,
                low_balance_threshold=input.low_balance_threshold,
                notify_emails=input.notify_emails or (),
                allowance=input.allowance.terms() if input.allowance is not None else None,
            ),
        )
        return wrap(info, Agreement, row)

    @mutation(description="Cancel; with refundUnused the unused prepaid value is refunded on a CREDIT_MEMO.")
    def cancel_agreement(self, info: Info, id: strawberry.ID, refund_unused: bool | None = None) -> Agreement:
        row = perform(
            info,
            "cancelAgreement",
            details={"id": id, "refundUnused": refund_unused},
            change=lambda session: agreements.cancel_agreement(
                session, agreement_id=input_id(id, "id"), refund_unused=bool(refund_unused)
            ),
        )
        return wrap(info, Agreement, row)

    @mutation(
        description="Buy a block: a lot at the price paid, billed at once on a PREPAID_PURCHASE invoice."
    )
    def purchase_block(self, info: Info, input: PurchaseBlockInput) -> Addition:
        payload = {k: v for k, v in dataclasses.asdict(input).items() if k != "idempotency_key"}
        row = perform_once(
            info,
            "purchaseBlock",
            key=input.idempotency_key,
            payload=payload,
            model=AdditionRow,
            change=lambda session: agreements.purchase_block(
                session,
                agreement_id=input_id(input.agreement_id, "agreementId"),
                units=input.units,
                unit_price=input.unit_price,
                product=input.product,
                category=input.category,
                subcategory=input.subcategory,
                effective_date=input.effective_date,
            ),
        )
        return wrap(info, Addition, row)

    @strawberry.mutation
    def adjust_agreement(self, info: Info, input: AdjustAgreementInput) -> Adjustment:
        row = perform(
            info,
            "adjustAgreement",
            details=dataclasses.asdict(input),
            change=lambda session: agreements.adjust_agreement(
                session,
                agreement_id=input_id(input.agreement_id, "agreementId"),
                units=input.units,
                reason=input.reason,
            ),
        )
        return wrap(info, Adjustment, row)

    @mutation(
        description="Enqueue expiry of prepaid units whose block expired on or before asOf (default today)."
    )
    def expire_blocks(self, info: Info, as_of: dt.date | None = None) -> bool:
        perform(
            info,
            "expireBlocks",
            details=lambda job: {"asOf": outbox.job_arguments(job)["as_of"]},
            change=lambda session: expiry.request_expiry(session, as_of=as_of),
        )
        return True

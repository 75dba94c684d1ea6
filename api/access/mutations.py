"""API tokens."""

import strawberry

from accounting import access
from api.access.types import ApiTokenSecret
from api.context import Info
from api.enums import Role
from api.fields import mutation
from api.scalars import optional_input_id
from api.transaction import perform


@strawberry.input
class CreateApiTokenInput:
    role: Role
    name: str
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for CUSTOMER tokens."
    )


@strawberry.type
class AccessMutation:
    @mutation(description="A new token, shown once.")
    def create_api_token(self, info: Info, input: CreateApiTokenInput) -> ApiTokenSecret:
        secrets: list[str] = []

        def create(session):  # type: ignore[no-untyped-def]
            token, secret = access.create_token(
                session,
                role=input.role,
                name=input.name,
                company_id=optional_input_id(input.company_id, "companyId"),
            )
            secrets.append(secret)
            return token

        row = perform(
            info,
            "createApiToken",
            details={"role": input.role, "name": input.name, "companyId": input.company_id},
            change=create,
        )
        info.context.loaders.register([row])
        return ApiTokenSecret(row=row, token=secrets[0], role=row.role, name=row.name)

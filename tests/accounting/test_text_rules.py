"""One text rule for every string input (issue 11): refused with BAD_USER_INPUT naming the field."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import mappings
from accounting.errors import InvalidInput
from models import GLAccount
from models.enums import AccountType


class TestUniqueGLAccountNames:
    def test_a_second_account_of_the_same_name_is_refused(self, session: Session) -> None:
        mappings.create_gl_account(session, code="4000", name="Service Revenue", type=AccountType.REVENUE)

        with pytest.raises(InvalidInput, match="name 'service revenue' is already GL account 4000's name"):
            mappings.create_gl_account(
                session, code="4010", name=" service revenue ", type=AccountType.REVENUE
            )

        assert session.scalar(select(func.count()).select_from(GLAccount)) == 1

"""One text rule for every string input (issue 11): refused with BAD_USER_INPUT naming the field."""

from __future__ import annotations

import unicodedata

import hypothesis.strategies as st
import pytest
from hypothesis import given
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounting import catalog, mappings
from accounting.errors import Conflict, InvalidInput
from accounting.validation import check_email, check_http_url, clean_text
from models import GLAccount, WorkType
from models.enums import AccountType


class TestUniqueGLAccountNames:
    def test_a_second_account_of_the_same_name_is_refused(self, session: Session) -> None:
        mappings.create_gl_account(session, code="4000", name="Service Revenue", type=AccountType.REVENUE)

        with pytest.raises(InvalidInput, match="name 'service revenue' is already GL account 4000's name"):
            mappings.create_gl_account(
                session, code="4010", name=" service revenue ", type=AccountType.REVENUE
            )

        assert session.scalar(select(func.count()).select_from(GLAccount)) == 1

    # The IIF and QuickBooks Online exports name accounts by name and Xero by code, each
    # printed as one line (exports.one_line): two accounts told apart only by spacing or
    # invisible characters would be one account in the file.
    @pytest.mark.parametrize(
        "twin", ["Service  Revenue", "Service\u00a0Revenue", "Service\u2003Revenue", "Service\u200bRevenue"]
    )
    def test_a_name_told_apart_only_by_spacing_is_the_same_name(self, session: Session, twin: str) -> None:
        mappings.create_gl_account(session, code="4000", name="Service Revenue", type=AccountType.REVENUE)

        with pytest.raises(InvalidInput, match="is already GL account 4000's name"):
            mappings.create_gl_account(session, code="4010", name=twin, type=AccountType.REVENUE)

        assert session.scalar(select(func.count()).select_from(GLAccount)) == 1

    def test_code_and_name_are_kept_as_the_exports_print_them(self, session: Session) -> None:
        account = mappings.create_gl_account(
            session, code="40\u00a000", name="Deferred \u2003 Revenue", type=AccountType.LIABILITY
        )
        assert (account.code, account.name) == ("40 00", "Deferred Revenue")

        with pytest.raises(Conflict, match="a GL account with code 40 00 exists"):
            mappings.create_gl_account(session, code="40  00", name="Other", type=AccountType.LIABILITY)
        with pytest.raises(InvalidInput, match="name must not be empty"):
            mappings.create_gl_account(session, code="4999", name="\u200b", type=AccountType.LIABILITY)


class TestTheOneTextRule:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("Remote\x00", "name must not contain control characters: U+0000 at 6"),
            ("Re\u0085mote", "name must not contain control characters: U+0085 at 2"),
            (
                "line\nbreak",
                "name must not contain control characters: U+000A at 4 (newlines and tabs only in free text)",
            ),
            ("\ud800", "name is not valid Unicode text (it holds a lone surrogate)"),
            ("   ", "name must not be empty"),
            ("x" * 201, "name must be at most 200 characters"),
            (12, "name must be text"),
        ],
    )
    def test_refuses_naming_the_field(self, value: object, message: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            clean_text(value, "name")

        assert refused.value.message == message

    def test_free_text_keeps_newlines_and_tabs_and_trims(self) -> None:
        assert clean_text("  Rebooted\n\tthe server  ", "notes", free_text=True) == "Rebooted\n\tthe server"
        with pytest.raises(InvalidInput, match=r"U\+000D"):
            clean_text("a\r\nb", "notes", free_text=True)

    @given(st.text())
    def test_what_passes_is_clean(self, value: str) -> None:
        try:
            cleaned = clean_text(value, "notes", max_length=4000, free_text=True)
        except InvalidInput:
            return
        cleaned.encode("utf-8")
        assert cleaned == cleaned.strip() and cleaned
        assert all(unicodedata.category(c) != "Cc" or c in "\n\t" for c in cleaned)

    def test_a_second_remote_with_a_nul_is_refused_before_anything_is_written(self, session: Session) -> None:
        catalog.create_work_type(session, name="Remote")

        with pytest.raises(InvalidInput, match="name must not contain control characters"):
            catalog.create_work_type(session, name="Remote\x00")

        assert [t.name for t in session.scalars(select(WorkType))] == ["Remote"]


class TestEmailAndUrls:
    @pytest.mark.parametrize(
        "value", ["billing@acme.example\n", "nope", "a@localhost", "a@b@c.example", "x@acme.test"]
    )
    def test_bad_addresses_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidInput, match="billingEmail"):
            check_email(value, "billingEmail")

    def test_a_good_address_is_kept(self) -> None:
        assert check_email(" billing@Acme.example ", "billingEmail") == "billing@acme.example"

    @pytest.mark.parametrize(
        "value", ["http://", "https://", "ftp://erp.example/x", "javascript:alert(1)", "erp.example"]
    )
    def test_bad_urls_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidInput, match="url"):
            check_http_url(value, "url")

    def test_a_good_url_is_kept_as_given(self) -> None:
        assert (
            check_http_url("https://erp.example/hooks/blocktime?x=1", "url")
            == "https://erp.example/hooks/blocktime?x=1"
        )

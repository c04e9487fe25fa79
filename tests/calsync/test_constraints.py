"""The database's own rules: they hold even for writes that bypass model code (bulk_create, update)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection
from events.models import CalendarEvent
from tests.factories import make_account, make_connection, make_event


def rejected(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_email_is_unique_regardless_of_case(owner):
    with pytest.raises(ValidationError, match="already exists"):
        User.objects.create_user("OWNER@Example.com", "x" * 12)
    # and in the database itself, for writes that skip validation:
    rejected(lambda: User.objects.bulk_create([User(email="owner@example.com")]))


def test_the_database_refuses_an_uppercase_email_written_around_the_model(db):
    rejected(lambda: User.objects.bulk_create([User(email="Mixed@Example.com")]))


def test_a_deleted_persons_email_can_sign_up_again(owner):
    User.objects.filter(pk=owner.pk).update(deleted_at=now(), is_active=False)
    again = User.objects.create_user("owner@example.com", "another password 1")
    assert User.all_objects.filter(email="owner@example.com").count() == 2
    assert User.objects.get_by_natural_key("Owner@Example.com") == again


def test_a_deleted_user_must_be_inactive(owner):
    rejected(lambda: User.objects.filter(pk=owner.pk).update(deleted_at=now()))


def test_the_default_manager_hides_deleted_users(owner, stranger):
    User.objects.filter(pk=stranger.pk).update(deleted_at=now(), is_active=False)
    assert list(User.objects.all()) == [owner]
    assert User.all_objects.count() == 2


def test_an_event_cannot_end_before_it_starts(owner):
    connection = make_connection(make_account(owner))
    rejected(lambda: make_event(connection, start=now(), end=now() - timedelta(minutes=1)))


def test_an_all_day_event_has_no_time_zone(owner):
    connection = make_connection(make_account(owner))
    rejected(lambda: make_event(connection, all_day=True, timezone="Europe/Berlin"))


def test_an_exception_needs_its_original_start_and_cannot_be_a_master(owner):
    connection = make_connection(make_account(owner))
    rejected(lambda: make_event(connection, master_provider_event_id="series-1", timezone="UTC"))
    rejected(
        lambda: make_event(
            connection, master_provider_event_id="series-1", original_start=now(), recurrence="RRULE:FREQ=DAILY"
        )
    )


def test_a_synced_event_has_a_provider_id_but_a_pending_create_may_not(owner):
    connection = make_connection(make_account(owner))
    rejected(lambda: make_event(connection, provider_event_id=None, sync_status="synced"))
    make_event(connection, provider_event_id=None, sync_status="pending")
    make_event(connection, provider_event_id=None, sync_status="pending")
    assert CalendarEvent.objects.filter(provider_event_id__isnull=True).count() == 2


def test_a_provider_event_is_stored_once_per_connection(owner):
    account = make_account(owner)
    first, second = make_connection(account), make_connection(account)
    make_event(first, provider_event_id="abc")
    make_event(second, provider_event_id="abc")
    rejected(lambda: make_event(first, provider_event_id="abc"))


def test_a_remote_calendar_is_connected_once_per_person_even_through_two_accounts(owner, stranger):
    make_connection(make_account(owner), remote_id="team@group.calendar.google.com")
    rejected(lambda: make_connection(make_account(owner), remote_id="team@group.calendar.google.com"))
    make_connection(make_account(stranger), remote_id="team@group.calendar.google.com")


def test_a_provider_account_is_stored_once_per_person(owner):
    make_account(owner, external_id="sub-1")
    rejected(lambda: make_account(owner, external_id="sub-1"))


def test_a_calendar_colour_is_hex(owner):
    account = make_account(owner)
    rejected(lambda: make_connection(account, color="red"))
    assert make_connection(account, color="#1a2B3c").color == "#1a2B3c"


def test_all_day_dates_are_read_without_any_zone_shift(owner):
    from datetime import UTC, date, datetime

    event = make_event(
        make_connection(make_account(owner)),
        start=datetime(2026, 7, 4, tzinfo=UTC),
        end=datetime(2026, 7, 5, tzinfo=UTC),
        all_day=True,
        timezone="",
    )
    event.refresh_from_db()
    assert (event.start_date, event.end_date) == (date(2026, 7, 4), date(2026, 7, 5))


def test_sign_up_refuses_a_taken_address_in_any_case_and_accepts_a_deleted_ones(client, owner):
    form = {"email": "OWNER@Example.com", "password1": "a long new password 7", "password2": "a long new password 7"}
    client.post("/accounts/signup/", form)  # answered like any sign-up, so addresses cannot be enumerated
    assert User.all_objects.filter(email="owner@example.com").count() == 1

    # The users table's side of re-sign-up. (Deleting an account must also remove the person's allauth
    # EmailAddress rows, or allauth still sees the address as taken: the account-deletion service's job.)
    User.objects.filter(pk=owner.pk).update(deleted_at=now(), is_active=False)
    client.post("/accounts/logout/")  # "Cancel" on the code page the first answer left this browser on
    cache.clear()  # and later than allauth's 10 s between two codes to one address
    assert client.post("/accounts/signup/", form).status_code == 302
    assert User.objects.get(email="owner@example.com").pk != owner.pk


def test_a_connection_cannot_pair_one_person_with_anothers_account(owner, stranger):
    from django.core.exceptions import ValidationError as ModelValidationError
    from django.db import connection as db

    strangers_account = make_account(stranger)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_connection(strangers_account, user=owner)
        with db.cursor() as cursor:  # the key is deferred to commit; check it now
            cursor.execute("SET CONSTRAINTS calendar_connections_account_owner_fk IMMEDIATE")
    borrowed = CalendarConnection(user=owner, account=strangers_account, remote_id="x", name="x")
    with pytest.raises(ModelValidationError, match="someone else"):
        borrowed.full_clean()


def test_an_all_day_event_is_whole_days_in_utc(owner):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    connection = make_connection(make_account(owner))
    berlin_midnight = datetime(2026, 7, 4, tzinfo=ZoneInfo("Europe/Berlin"))
    rejected(lambda: make_event(connection, all_day=True, timezone="", start=berlin_midnight,
                                end=berlin_midnight + timedelta(days=1)))  # fmt: skip
    utc_midnight = datetime(2026, 7, 4, tzinfo=UTC)
    rejected(lambda: make_event(connection, all_day=True, timezone="", start=utc_midnight, end=utc_midnight))
    make_event(connection, all_day=True, timezone="", start=utc_midnight, end=utc_midnight + timedelta(days=2))

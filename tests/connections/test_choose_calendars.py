"""Choosing calendars: the same remote calendar is never synced twice for one person."""

from __future__ import annotations

from audit.models import AuditAction, AuditLog
from connections.models import CalendarConnection, Provider
from connections.providers.base import RemoteCalendar
from connections.services import calendars_choose
from tests.factories import make_account, make_connection, make_event

TEAM = RemoteCalendar(remote_id="team@group.calendar.google.com", name="Team", color="#123456")
MINE = RemoteCalendar(remote_id="olive@example.com", name="Olive", is_primary=True)


def test_a_calendar_already_synced_through_another_account_is_skipped_and_reported(owner):
    first = make_account(owner, Provider.GOOGLE, external_id="sub-1")
    second = make_account(owner, Provider.GOOGLE, external_id="sub-2")
    calendars_choose(account=first, remote_calendars=[TEAM], chosen_ids={TEAM.remote_id})
    result = calendars_choose(
        account=second, remote_calendars=[TEAM, MINE], chosen_ids={TEAM.remote_id, MINE.remote_id}
    )
    assert [c.remote_id for c in result.elsewhere] == [TEAM.remote_id]
    assert CalendarConnection.objects.get(remote_id=TEAM.remote_id).account_id == first.pk
    assert CalendarConnection.objects.get(remote_id=MINE.remote_id).account_id == second.pk


def test_choosing_again_refreshes_names_and_colours_and_removes_the_unchosen_with_their_events(owner):
    account = make_account(owner)
    calendars_choose(account=account, remote_calendars=[TEAM, MINE], chosen_ids={TEAM.remote_id, MINE.remote_id})
    team = CalendarConnection.objects.get(remote_id=TEAM.remote_id)
    make_event(team)
    renamed = RemoteCalendar(remote_id=MINE.remote_id, name="Olive (renamed)", color="#abcdef", is_primary=True)
    result = calendars_choose(account=account, remote_calendars=[TEAM, renamed], chosen_ids={MINE.remote_id})
    assert result.removed == ["Team"]
    assert list(CalendarConnection.objects.values_list("name", "color")) == [("Olive (renamed)", "#abcdef")]
    assert not team.events.exists()
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_CALENDARS_CHOSEN).count() == 2


def test_a_connection_of_someone_else_never_blocks_or_is_touched(owner, stranger):
    theirs = make_connection(make_account(stranger), remote_id=TEAM.remote_id)
    account = make_account(owner)
    result = calendars_choose(account=account, remote_calendars=[TEAM], chosen_ids={TEAM.remote_id})
    assert len(result.added) == 1
    theirs.refresh_from_db()
    assert theirs.user_id == stranger.pk

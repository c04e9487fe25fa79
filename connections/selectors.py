"""Reads for the connections pages: bounded, whatever the number of accounts, calendars or unreadable items."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Prefetch, QuerySet, Value
from django.db.models.functions import Greatest

from accounts.models import User
from connections.models import CalendarConnection, ProviderAccount
from events.models import UnreadableItem

# How many of a calendar's unreadable items the page lists; the rest are counted.
UNREADABLE_LISTED = 20


def accounts_with_calendars(*, user: User) -> QuerySet[ProviderAccount]:
    """The person's accounts, each with its calendars: `unreadable_count`, and the first unreadable items with
    their reasons as `unreadable_listed` (`unreadable_unlisted` more). Three queries in all."""
    calendars = CalendarConnection.objects.annotate(unreadable_count=Count("unreadable_items")).annotate(
        unreadable_unlisted=Greatest(
            Value(0), Count("unreadable_items") - UNREADABLE_LISTED, output_field=IntegerField()
        )
    )
    unreadable = UnreadableItem.objects.order_by("first_seen_at", "pk")[:UNREADABLE_LISTED]
    return (
        ProviderAccount.objects.filter(user=user)
        .prefetch_related(
            Prefetch("calendars", queryset=calendars),
            # A list attribute: Django cannot keep a sliced prefetch as the related manager's cache.
            Prefetch("calendars__unreadable_items", queryset=unreadable, to_attr="unreadable_listed"),
        )
        .order_by("provider", "email", "pk")
    )


def unreadable_counts(*, connection_ids: list[int]) -> dict[int, int]:
    """How many unreadable items each of these calendars has (those with none are left out), in one query."""
    counts = (
        UnreadableItem.objects.filter(connection_id__in=connection_ids)
        .values("connection_id")
        .annotate(count=Count("pk"))
        .order_by()
        .values_list("connection_id", "count")
    )
    return dict(counts)

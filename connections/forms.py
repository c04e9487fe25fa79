from __future__ import annotations

from typing import Any, cast

from django import forms

from connections.providers.base import RemoteCalendar


class CalDAVForm(forms.Form):
    server_url = forms.CharField(
        label="Server address",
        max_length=2048,
        widget=forms.URLInput(attrs={"autocomplete": "url", "spellcheck": "false"}),
        help_text="It must start with https://.",
    )
    username = forms.CharField(
        label="User name",
        max_length=320,
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": "false", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="App-specific password",
        max_length=512,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class ChooseCalendarsForm(forms.Form):
    calendars = forms.MultipleChoiceField(
        label="Calendars to sync",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one calendar, or disconnect the account instead."},
    )

    def __init__(self, *args: Any, remote_calendars: list[RemoteCalendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["calendars"])
        field.choices = [(calendar.remote_id, calendar.name) for calendar in remote_calendars]

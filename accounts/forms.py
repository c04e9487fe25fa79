from __future__ import annotations

from django import forms
from django.http import HttpRequest

from accounts.models import User, Weekday
from accounts.timezones import DEFAULT_TIMEZONE, is_known_timezone, timezone_choices


class SignupProfileForm(forms.Form):
    """Fields allauth's sign-up form gains (ACCOUNT_SIGNUP_FORM_CLASS): a name and the browser's zone.

    The zone is filled in by static/js/timezone.js from the browser (Intl API); it is a guess the person
    can change later in Settings, so a missing or unknown value falls back to UTC instead of blocking
    sign-up on a field they cannot see.
    """

    name = forms.CharField(max_length=150, required=False, label="Name (optional)")
    # A plain Field (no length or character rules): whatever the browser sent, clean_timezone() turns
    # it into a known zone, so a hidden field can never block sign-up.
    timezone = forms.Field(required=False, widget=forms.HiddenInput(attrs={"data-guess-timezone": ""}))

    def clean_timezone(self) -> str:
        guessed = self.cleaned_data.get("timezone") or ""
        return guessed if isinstance(guessed, str) and is_known_timezone(guessed) else DEFAULT_TIMEZONE

    def signup(self, request: HttpRequest, user: User) -> None:
        user.name = self.cleaned_data["name"]
        user.timezone = self.cleaned_data["timezone"]
        user.save(update_fields=["name", "timezone", "updated_at"])


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        choices=timezone_choices, label="Time zone", help_text="Your week view and times are shown in it."
    )
    week_start = forms.TypedChoiceField(choices=Weekday.choices, coerce=int, label="Week starts on")

    class Meta:
        model = User
        fields = ("name", "timezone", "week_start")


class DeleteAccountForm(forms.Form):
    """The last step; the password (or a second factor) was asked for just before, by allauth's
    reauthentication, which is rate-limited and audited."""

    confirm = forms.BooleanField(
        label="I understand my calendars, events and settings will be removed, and this cannot be undone."
    )

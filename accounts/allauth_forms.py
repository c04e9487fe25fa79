"""allauth's sign-up, password-reset and code forms (ACCOUNT_FORMS), taught who owns an address.

A separate module from accounts.forms: allauth builds its sign-up form on ACCOUNT_SIGNUP_FORM_CLASS
(accounts.forms.SignupProfileForm) when allauth.account.forms is first imported, so the forms that
extend allauth's own cannot live in that module.
"""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest

from accounts.selectors import accounts_owning_email


class SignupForm(allauth_forms.SignupForm):
    def validate_unique_email(self, value: str) -> str:
        # allauth would count an address merely stored on someone else's account; with enumeration
        # prevented and verification mandatory it then answers "account already exists" by email.
        email: str = get_adapter().validate_unique_email(value)
        self.account_already_exists = bool(accounts_owning_email(email))
        return email

    def try_save(self, request: HttpRequest) -> tuple[Any, Any]:
        if self.account_already_exists:
            # A new address costs a password hash (Argon2, most of the time of a sign-up); pay the same
            # for a known one, so how long the answer takes does not tell which addresses have accounts.
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    def clean_email(self) -> str:
        email: str = super().clean_email()
        # Only an account the address belongs to is reset through it (allauth would also reset an
        # account that merely stored the address unverified).
        self.users = [user for user in accounts_owning_email(email) if user.is_active]
        return email


class ConfirmEmailVerificationCodeForm(allauth_forms.ConfirmEmailVerificationCodeForm):
    def clean_code(self) -> str:
        # The code is checked as allauth does; the address must then be free, counting only accounts it
        # belongs to (allauth counts an unproved copy on another account, blocking the owner).
        code: str = allauth_forms.BaseConfirmCodeForm.clean_code(self)
        if code and any(user.pk != self.user.pk for user in accounts_owning_email(self.email)):
            raise get_adapter().validation_error("email_taken")
        return code

"""Sign-in by email address through allauth, counting only accounts the address belongs to."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.base_user import AbstractBaseUser

from accounts.selectors import accounts_owning_email


class EmailOwnerAuthenticationBackend(AuthenticationBackend):
    """allauth's backend, except that an address stored on an account but never proved does not sign
    in to that account (allauth falls back to unverified addresses when no account verified it)."""

    def _authenticate_by_email(self, email: str, password: str) -> AbstractBaseUser | None:
        for user in accounts_owning_email(email) if email else []:
            if self._check_password(user, password):
                return user
        return None

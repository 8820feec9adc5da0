"""Token authentication that refuses keys no token can have before they reach the database."""

import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

# DRF's keys are 40 hex digits; anything else (a NUL byte above all, which PostgreSQL refuses) is no token.
TOKEN_KEY = re.compile(r"[0-9A-Za-z]{1,40}")


def token_key_is_plausible(key: str) -> bool:
    return TOKEN_KEY.fullmatch(key) is not None


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> Any:
        if not token_key_is_plausible(key):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(key)

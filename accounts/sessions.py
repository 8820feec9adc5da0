"""The database session engine, refusing cookie values that cannot be session keys before any query.

A cookie may be quoted with octal escapes (`sessionid="abc\\000..."` is unquoted to a NUL byte), and PostgreSQL
refuses NUL in text: without this check such a cookie turns every request into a 500.
"""

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: Any) -> bool:
        # Django's keys are 32 characters of a-z and 0-9.
        valid = super()._validate_session_key(key)  # type: ignore[misc]  # private in django-stubs
        return bool(valid) and key.isascii() and key.isalnum()

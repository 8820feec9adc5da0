from typing import Any

from rest_framework.permissions import BasePermission

from accounts.models import Role

CONSOLE_ROLES = (Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.VIEWER)
ALL_ROLES = (*CONSOLE_ROLES, Role.CREW)


def role_permission(*roles: str) -> type[BasePermission]:
    """A DRF permission that admits active users holding one of `roles`."""

    class HasRole(BasePermission):
        allowed = roles

        def has_permission(self, request: Any, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_role(*roles))

    HasRole.__name__ = "HasRole_" + "_".join(roles)
    return HasRole

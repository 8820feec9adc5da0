from django.db import transaction

from accounts.models import Role, User


def user_create(*, username: str, role: str, password: str, unit_id: int | None = None) -> User:
    """Create or update a user; only crew users carry a unit (enforced by a constraint)."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    if (role == Role.CREW) != (unit_id is not None):
        raise ValueError("a crew user needs --unit, and only a crew user may have one")
    with transaction.atomic():
        user, _ = User.objects.select_for_update().get_or_create(username=username)
        user.role = role
        user.unit_id = unit_id
        user.is_staff = role == Role.SUPERVISOR
        user.set_password(password)
        user.save()
    return user

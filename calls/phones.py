"""Caller numbers as people type them (0812…, 62812…, +62 812-…), stored in E.164."""

import phonenumbers
from django.conf import settings


class InvalidPhone(ValueError):
    pass


def phone_to_e164(raw: str) -> str:
    """Normalise an Indonesian (or international) number; raises InvalidPhone when it cannot be a number."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidPhone("Enter a phone number.")
    digits = "".join(ch for ch in text if ch.isdigit())
    region = settings.GEO["DEFAULT_PHONE_REGION"]
    # "62812…" typed without the plus is an Indonesian number in international form.
    if not text.startswith("+") and digits.startswith("62") and len(digits) >= 10:
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("Not a phone number.") from exc
    # Short service numbers (112, 119, 110) are dialled too; possible is enough, valid is too strict for them.
    possible = phonenumbers.is_possible_number(number) or phonenumbers.is_valid_number(number)
    if not possible and not phonenumbers.is_possible_short_number(number):
        raise InvalidPhone("Not a possible phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

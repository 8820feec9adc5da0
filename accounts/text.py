"""Free text typed by people (names, addresses, complaints, reasons), kept as typed but never with
characters nobody types: control characters (PostgreSQL refuses NUL outright) and the Unicode bidi
embedding, override and isolate controls, which can make a console show an address or a name reversed."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# C0 controls but tab, newline and carriage return; DEL and C1 controls; U+202A-U+202E; U+2066-U+2069.
UNTYPABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def refuse_untypable_characters(value: Any) -> None:
    if isinstance(value, str) and UNTYPABLE.search(value):
        raise ValidationError(_("Contains control or text-direction characters."), code="invalid_characters")


class PlainTextField(serializers.CharField):
    """A CharField that refuses control and bidi-override characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(refuse_untypable_characters)

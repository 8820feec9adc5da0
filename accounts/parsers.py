"""The API's JSON parser: a body too deep to parse is bad input (400), not a crash."""

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as BaseJSONParser

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(BaseJSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json.loads recurses once per nesting level: `[[[[...` a few thousand deep exhausts the stack.
            raise ParseError("JSON parse error - nested too deeply.") from None
        if _has_lone_surrogate(data):
            # "\ud800" is valid JSON but no text: echoed in an error message it cannot be encoded (a 500).
            raise ParseError("JSON parse error - unpaired surrogate escape.")
        return data


def _has_lone_surrogate(data: Any) -> bool:
    # A loop, not recursion: the body may be nested nearly as deep as the parser allows.
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False

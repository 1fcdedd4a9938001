"""Json.NET's camelCase rule, which Impartner applies to every response key."""

from functools import cache


@cache
def camel_case(name: str) -> str:
    """Lower-case the leading run of capitals, keeping the last one upper when a lower-case
    letter follows (`CrmId` → `crmId`, `LMS_Account_ID__cf` → `lmS_Account_ID__cf`)."""
    if not name or not name[0].isupper():
        return name
    chars = list(name)
    for i, char in enumerate(chars):
        if i == 1 and not char.isupper():
            break
        has_next = i + 1 < len(chars)
        if i > 0 and has_next and not chars[i + 1].isupper():
            if chars[i + 1].isspace():
                chars[i] = char.lower()
            break
        chars[i] = char.lower()
    return "".join(chars)

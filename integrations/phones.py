"""Phone numbers in E.164, the one form every provider and every lookup uses."""

from __future__ import annotations

import phonenumbers


def e164(value: str, region: str | None = None, *, valid: bool = True) -> str:
    """E.164 form of `value`, or ValueError naming why it is not one.

    `valid=False` only asks for a number that is possible (the right length for its
    country): for what a provider reports as a sender, not for what we are told to text.
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    ok = phonenumbers.is_valid_number(number) if valid else phonenumbers.is_possible_number(number)
    if not ok:
        raise ValueError("not a valid phone number (use E.164, e.g. +14155550123)")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

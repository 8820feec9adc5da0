import pytest

from calls.phones import InvalidPhone, phone_to_e164


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("081234567890", "+6281234567890"),
        ("0812-3456-7890", "+6281234567890"),
        ("62812 3456 7890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("(0341) 362101", "+62341362101"),
        ("119", "+62119"),
    ],
)
def test_phone_to_e164_accepts_the_forms_people_type(typed, stored):
    assert phone_to_e164(typed) == stored


@pytest.mark.parametrize("typed", ["", "   ", "abc", "0", "+62" + "9" * 30, "<script>"])
def test_phone_to_e164_refuses_what_cannot_be_a_number(typed):
    with pytest.raises(InvalidPhone):
        phone_to_e164(typed)

"""The password rule of docs/api.md: at least 10 characters, not all of one class."""

import pytest
from pydantic import ValidationError

from contracts.users import UserCreate


def _create(password: str) -> UserCreate:
    return UserCreate(email="a@example.com", password=password, full_name="A")


@pytest.mark.parametrize(
    "password", ["Abcdefghij", "abcdefghi1", "abcdefghi-", "ABCDEFGHI9", "1234567890!"]
)
def test_ten_characters_of_two_classes_pass(password: str) -> None:
    assert _create(password).password == password


@pytest.mark.parametrize(
    "password", ["Abc-12345", "abcdefghijkl", "ABCDEFGHIJKL", "123456789012", "!!!!!!!!!!!!", ""]
)
def test_short_or_single_class_passwords_fail(password: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _create(password)
    assert caught.value.errors()[0]["loc"] == ("password",)


def test_email_and_name_are_trimmed_and_bounded() -> None:
    user = UserCreate(email=" a@example.com ", password="Abcdefghij", full_name="  Ada ")
    assert (user.email, user.full_name) == ("a@example.com", "Ada")
    with pytest.raises(ValidationError):
        UserCreate(email="a@example.com", password="Abcdefghij", full_name="x" * 201)

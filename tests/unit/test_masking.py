"""Pure tests of secret masking: longest first, short values ignored, the encoded forms of a
secret, the config's public values kept whole, truthiness."""

from __future__ import annotations

from dockyard.masking import MASK, Masker


def test_masks_every_occurrence() -> None:
    mask = Masker(["hunter2"])
    assert mask("pw=hunter2 again hunter2") == f"pw={MASK} again {MASK}"


def test_longest_first_so_a_secret_containing_another_is_fully_masked() -> None:
    mask = Masker(["abc", "abcdef"])
    assert mask("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_longest_first_regardless_of_input_order() -> None:
    assert Masker(["token", "token-extra-long"])("token-extra-long") == MASK
    assert Masker(["token-extra-long", "token"])("token-extra-long") == MASK


def test_secrets_shorter_than_three_characters_are_ignored() -> None:
    mask = Masker(["a", "ab", "", "abc"])
    assert mask("a ab abc") == f"a ab {MASK}"


def test_bool() -> None:
    assert not Masker()
    assert not Masker(["xy", ""])
    assert Masker(["xyz"])


def test_text_without_secrets_is_unchanged() -> None:
    assert Masker(["secret"])("nothing to see") == "nothing to see"
    assert Masker()("secret") == "secret"


class _Tail(Exception):
    def __init__(self, host: str, tail: str) -> None:
        super().__init__(f"{host} failed: {tail}")
        self.tail = tail


def test_exception_copy_masks_message_attributes_and_causes() -> None:
    from dockyard.errors import JobFailed

    mask = Masker(["s3cr3t-pw"])
    try:
        try:
            raise _Tail("vm1", "postgres://u:s3cr3t-pw@db")
        except _Tail as inner:
            raise JobFailed("job migrate exited 1: s3cr3t-pw") from inner
    except JobFailed as exc:
        original = exc
    masked = mask.exception(original)
    assert type(masked) is JobFailed
    assert "s3cr3t-pw" not in str(masked) and MASK in str(masked)
    assert isinstance(masked.__cause__, _Tail)
    assert "s3cr3t-pw" not in str(masked.__cause__)
    assert masked.__cause__.tail == f"postgres://u:{MASK}@db"
    assert "s3cr3t-pw" in str(original)  # the original is untouched
    assert masked.__traceback__ is original.__traceback__


def test_implicit_context_is_masked_too() -> None:
    mask = Masker(["hunter22"])
    try:
        try:
            raise ValueError("hunter22")
        except ValueError:
            raise KeyError("x") from None
    except KeyError as exc:
        assert mask.exception(exc).__context__ is None or "hunter22" not in str(
            mask.exception(exc).__context__
        )
    try:
        try:
            raise ValueError("hunter22")
        except ValueError:
            raise KeyError("x")  # noqa: B904
    except KeyError as exc:
        assert "hunter22" not in str(mask.exception(exc).__context__)


def test_values_masked_deeply() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Result:
        out: str
        lines: list[str]

    mask = Masker(["tok-123456"])
    got = mask.value({"a": ["x tok-123456", ("tok-123456",)], "r": Result("tok-123456", ["ok"])})
    assert got == {"a": [f"x {MASK}", (MASK,)], "r": Result(MASK, ["ok"])}
    assert mask.value(b"tok-123456") == MASK.encode()
    assert mask.value(5) == 5


def test_values_without_secrets_come_back_as_the_same_objects() -> None:
    from enum import StrEnum

    class Kind(StrEnum):
        TAG = "tag"

    mask = Masker(["tok-123456"])
    value = {"kind": Kind.TAG, "list": [1, "a"], "t": ("x",)}
    assert mask.value(value) is value
    assert mask.value(Kind.TAG) is Kind.TAG


def test_the_encoded_forms_of_a_secret_are_masked() -> None:
    import base64
    import json
    from urllib.parse import quote, quote_plus

    secret = 'hunter2!#/ "x'
    mask = Masker([secret])
    for shown in (quote(secret), quote(secret, safe=""), quote_plus(secret),
                  json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode(),
                  base64.urlsafe_b64encode(secret.encode()).decode()):  # fmt: skip
        assert secret not in mask(f"got {shown} here") and MASK in mask(f"got {shown} here")
        assert mask(f"got {shown} here").startswith("got ")


def test_a_secret_inside_a_base64_basic_header_is_masked_at_any_alignment() -> None:
    import base64

    secret = "pw-Zx81-never"
    mask = Masker([secret])
    for user in ("a", "ab", "abc", "shop"):
        header = base64.b64encode(f"{user}:{secret}".encode()).decode()
        assert MASK in mask(f"Authorization: Basic {header}"), user
        middle = mask(f"Authorization: Basic {header}").removeprefix("Authorization: Basic ")
        assert len(middle) < len(header) / 2 + 4  # most of the secret's characters are gone


def test_encoded_forms_of_short_secrets_are_not_masked() -> None:
    import base64

    mask = Masker(["abcd"])  # the config refuses such secrets; no 3-letter noise here
    assert mask(base64.b64encode(b"abcd").decode()) == base64.b64encode(b"abcd").decode()
    assert mask("abcd") == MASK


def test_a_public_value_that_contains_a_secret_is_left_whole() -> None:
    image = "127.0.0.1:5000/temporalio/auto-setup:1.29.1"
    mask = Masker(["temporal"], public=[image, "/srv/temporal-stack", "temporal"])
    assert mask(f"pull {image} into /srv/temporal-stack") == (
        f"pull {image} into /srv/temporal-stack"
    )
    assert mask("password=temporal") == f"password={MASK}"
    assert mask("temporalio/auto-setup:1.29.1") == f"{MASK}io/auto-setup:1.29.1"


def test_a_public_value_equal_to_a_secret_is_masked() -> None:
    mask = Masker(["temporal"], public=["temporal"])
    assert mask("temporal: unchanged") == f"{MASK}: unchanged"


def test_a_longer_secret_overlapping_a_public_value_is_masked() -> None:
    mask = Masker(["temporal", "x/temporalio/auto-setup:1"], public=["/temporalio/auto-setup"])
    assert mask("pull x/temporalio/auto-setup:1") == f"pull {MASK}"

"""Pure tests of secret masking: longest first, short values ignored, truthiness."""

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

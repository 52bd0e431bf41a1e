"""Display names on the class board: what is kept as typed, what is normalised, and every hostile kind refused with
its code (the message never echoes the offending character itself, only its code point and name)."""

import unicodedata

import pytest

from mnist_demo.app.core.board.rules import MAX_CLASS_NAME, MAX_NAME, MAX_RAW_NAME, BoardError, check_name


@pytest.mark.parametrize("typed, kept", [
    ("민지", "민지"),
    ("김 민지", "김 민지"),
    ("Zoë", "Zoë"),
    ("O'Brien", "O'Brien"),
    ("Anne-Marie_2.b", "Anne-Marie_2.b"),
    ("  bob  ", "bob"),
    ("A   B", "A B"),
    ("e\u0301mile", "\u00e9mile"),  # NFD typed, NFC kept
    ("\u1100\u1161\u11a8", "\uac01"),  # Hangul as jamo becomes the syllable 각
    ("Ana\u00a0Li", "Ana Li"),  # a no-break space is a space
    ("\u3000민\u3000지", "민 지"),  # so is the ideographic space
    ("Δημήτρης", "Δημήτρης"),
    ("Алёна", "Алёна"),
    ("मोहन", "मोहन"),  # Devanagari: letters with combining vowel signs
    ("٣ علي", "٣ علي"),  # Arabic letters and an Arabic-Indic digit
    ("7", "7"),
    ("x" * MAX_NAME, "x" * MAX_NAME),
])
def test_names_of_any_script_are_kept(typed, kept):
    assert check_name(typed) == kept


@pytest.mark.parametrize("typed, code", [
    ("<b>bold</b>", "board_name_char"),
    ("<script>alert(1)", "board_name_char"),
    ("<script>alert(1)</script>", "board_name_long"),  # over 24 characters: refused at its length first
    ("Tom & Jerry", "board_name_char"),
    ('say "hi"', "board_name_char"),
    ("a\x00b", "board_name_char"),
    ("a\nb", "board_name_char"),
    ("a\tb", "board_name_char"),
    ("a\x1b[31mred", "board_name_char"),
    ("a\x7fb", "board_name_char"),
    ("abc\u202egnp.exe", "board_name_char"),  # right-to-left override
    ("a\u2066b\u2069", "board_name_char"),  # bidi isolates
    ("a\u200db", "board_name_char"),  # zero-width joiner
    ("a\u200bb", "board_name_char"),  # zero-width space
    ("\ufeffbom", "board_name_char"),
    ("a\u2028b", "board_name_char"),  # line separator
    ("smile\U0001F600", "board_name_char"),
    ("a/b", "board_name_char"),
    ("a\ue000b", "board_name_char"),  # private use
    ("a\u20ddb", "board_name_char"),  # an enclosing mark
    ("x" * 10240, "board_name_long"),
    ("x" * (MAX_NAME + 1), "board_name_long"),
    ("", "board_name_empty"),
    ("     ", "board_name_empty"),
    ("\u3000\u00a0", "board_name_empty"),
    ("\u3164\u3164", "board_name_char"),  # Hangul fillers: letters that draw nothing
    ("a\u115f", "board_name_char"),
    ("-rm", "board_name_start"),
    ("'quoted'", "board_name_start"),
    ("=1+1", "board_name_char"),
    ("\u0301a", "board_name_start"),  # a combining mark with nothing to combine with
    ("q" + "\u0301" * 4, "board_name_char"),  # "zalgo": more than 3 marks on a letter (q has no precomposed q́)
    ("a \u0301", "board_name_char"),  # a mark on a space
    (None, "board_name_type"),
    (12, "board_name_type"),
    (b"bytes", "board_name_type"),
])
def test_hostile_names_are_refused_with_a_code(typed, code):
    with pytest.raises(BoardError) as caught:
        check_name(typed)
    assert caught.value.code == code and caught.value.values["field"] == "name"
    message = str(caught.value)
    assert "<" not in message and "\u202e" not in message and "\x00" not in message and len(message) < 200
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in message)


def test_the_message_names_the_character_by_its_code_point():
    with pytest.raises(BoardError) as caught:
        check_name("abc\u202egnp")
    assert caught.value.values["char"] == "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in str(caught.value)


def test_a_huge_paste_is_refused_at_its_length_before_normalising():
    with pytest.raises(BoardError) as caught:
        check_name("e\u0301" * 5120)  # would be 5,120 characters after NFC: refused as the 10,240 it arrived as
    assert caught.value.values["length"] == 10240 and caught.value.values["limit"] == MAX_NAME


def test_a_name_just_within_the_raw_bound_that_normalises_short_is_kept():
    typed = "\u1100\u1161" * 12  # 24 jamo -> 12 syllables
    assert len(typed) <= MAX_RAW_NAME and check_name(typed) == "\uac00" * 12


def test_the_class_name_has_its_own_field_and_bound():
    assert check_name("Intro to deep learning 2026 spring", field="class_name", limit=MAX_CLASS_NAME)
    with pytest.raises(BoardError) as caught:
        check_name("y" * (MAX_CLASS_NAME + 1), field="class_name", limit=MAX_CLASS_NAME)
    assert caught.value.code == "board_name_long" and caught.value.values["field"] == "class_name"

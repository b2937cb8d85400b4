"""National identifiers: unified social credit code (GB 32100-2015) and ID card (GB 11643)."""
import pytest

from handlers.codes import credit_code_check_char, id_card_check_char, is_valid_credit_code, is_valid_id_card


@pytest.mark.parametrize("code", [
    "91350100M000100Y43",     # the example of GB 32100-2015
    "91110000600037341L",
    "91350100m000100y43",     # case does not matter
    " 91350100M000100Y43 ",
])
def test_valid_credit_codes(code):
    assert is_valid_credit_code(code)


@pytest.mark.parametrize("code", [
    "91350100M000100Y44",     # wrong check character
    "91350100M000100Y4",      # 17 characters
    "91350100M000100Y433",    # 19 characters
    "91350100I000100Y43",     # I is not in the character set
    "91350100O000100Y43",     # nor O
    "", None, "９１350100M000100Y43",
])
def test_invalid_credit_codes(code):
    assert not is_valid_credit_code(code)


def test_credit_check_char_of_the_standards_example():
    assert credit_code_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014",
                                    "11010519491231002x"])
def test_valid_id_cards(number):
    assert is_valid_id_card(number)


@pytest.mark.parametrize("number", ["110105194912310021", "44052418800101001", "4405241880010100145",
                                    "44052418800101001A", "", None, "X40524188001010014"])
def test_invalid_id_cards(number):
    assert not is_valid_id_card(number)


def test_id_card_check_char():
    assert id_card_check_char("11010519491231002") == "X"
    assert id_card_check_char("44052418800101001") == "4"

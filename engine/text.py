"""Text as it arrives from outside: natural keys in one spelling, and characters no field may hold.

- A natural key (credit code, 报监登记号, ID-card number, certificate number, contract and permit
  numbers, case number) is compared, stored and looked up in one spelling, ``natural_key``:
  Unicode NFKC (full-width "ＢＪ１" is "BJ1"), upper case, without invisible characters (zero-width
  space, BOM, joiners, soft hyphen) and without surrounding whitespace. Two spellings of one key
  can then never become two records.
- A single-line text (a name, an address) takes line breaks and tabs as a space: a CR/LF in a name
  would otherwise end up in a notification e-mail's header.
- NUL (refused by PostgreSQL), other control characters and lone UTF-16 surrogates (which cannot be
  encoded to UTF-8) are refused by ``bad_character`` wherever text is accepted.
"""
import re
import unicodedata

# invisible characters that are not whitespace: they make two keys look equal and compare different
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def natural_key(value: str | None) -> str:
    """The one spelling of a natural key; "" for None."""
    text = unicodedata.normalize("NFKC", value or "")
    return _INVISIBLE.sub("", text).strip().upper()


def single_line(value: str) -> str:
    """A one-line text: line breaks and tabs as one space, trimmed."""
    return _LINE_BREAKS.sub(" ", value).strip()


def bad_character(value: str) -> str | None:
    """Why ``value`` cannot be stored (a NUL, another control character, a lone surrogate), or None.
    Line breaks and tabs are not refused here: multi-line fields keep them, ``single_line`` folds them."""
    if "\x00" in value:
        return "不能包含空字符（\\0）"
    if _SURROGATE.search(value):
        return "包含无效的字符（孤立的代理字符）"
    if _CONTROL.search(value):
        return "不能包含控制字符"
    return None

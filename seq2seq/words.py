"""What a "word" is, in every language: the unit of reply length, distinct-n, word-level
perplexity and BLEU's tokenisation.

The rule: a word is a run of characters between whitespace, except that each character of a
script written without spaces (Chinese and Japanese: Han ideographs, kana, CJK punctuation and
symbols, full-width forms) is a word of its own. "你好，world!" is five words: 你 好 ， world!
English text is split on whitespace exactly as before. Counting CJK characters as words is what
sacreBLEU's `zh` tokenizer does (and character-level figures are the usual ones for Chinese
dialogue); BLEU uses that tokenizer whenever a text holds such a
character, else its default `13a` (its signature names the one used). Unlike `zh`, the rule
here also splits kana, so Japanese lengths count characters too; BLEU on Japanese would need
sacreBLEU's MeCab tokenizer, which is not a dependency.

References:
    Post, 2018, "A Call for Clarity in Reporting BLEU Scores" (sacrebleu, its `zh` tokenizer).
"""

from __future__ import annotations

import re

# Unicode blocks whose characters are written without spaces between words.
UNSPACED = (
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3000-\u303f"  # CJK symbols and punctuation (、。「」)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f\u31a0-\u31bf"  # bopomofo
    "\u31c0-\u31ff"  # CJK strokes, katakana extensions
    "\u3200-\u33ff"  # enclosed CJK letters, CJK compatibility
    "\u3400-\u4dbf\u4e00-\u9fff"  # Han ideographs (extension A, unified)
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufe10-\ufe1f\ufe30-\ufe4f"  # vertical and CJK compatibility forms
    "\uff00-\uffef"  # full-width and half-width forms (，！？ and half-width kana)
    "\U00020000-\U0003134f"  # Han ideographs, extensions B to G and compatibility supplement
)
WORD = re.compile(f"[{UNSPACED}]|[^\\s{UNSPACED}]+")
UNSPACED_CHAR = re.compile(f"[{UNSPACED}]")
SPACED_BLEU_TOKENIZER = "13a"  # sacrebleu's default, for text with spaces between words
UNSPACED_BLEU_TOKENIZER = "zh"  # sacrebleu's: each CJK character a token, the rest as 13a


def words(text: str) -> list[str]:
    """The lowercased words of `text` by the rule above."""
    return WORD.findall(text.lower())


def bleu_tokenizer(texts: list[str]) -> str:
    """sacrebleu's tokenizer for these texts: `zh` when any holds a character of a script
    written without spaces, else `13a`."""
    unspaced = any(UNSPACED_CHAR.search(text) for text in texts)
    return UNSPACED_BLEU_TOKENIZER if unspaced else SPACED_BLEU_TOKENIZER

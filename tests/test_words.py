from seq2seq.words import bleu_tokenizer, words


def test_words_split_on_whitespace_and_lowercase_as_before():
    assert words("I don't  KNOW .") == ["i", "don't", "know", "."]
    assert words("") == [] and words("  \t ") == []


def test_every_cjk_character_and_full_width_mark_is_a_word():
    assert words("你好，world!") == ["你", "好", "，", "world!"]
    assert words("我很好。 你呢？") == ["我", "很", "好", "。", "你", "呢", "？"]
    assert words("こんにちは") == list("こんにちは")  # kana, written without spaces too
    assert words("𠀀x") == ["𠀀", "x"]  # beyond the basic plane (extension B)
    assert words("안녕 하세요") == ["안녕", "하세요"]  # Korean is written with spaces


def test_bleu_uses_the_zh_tokenizer_when_any_text_has_cjk_characters():
    assert bleu_tokenizer(["hello there", "fine"]) == "13a"
    assert bleu_tokenizer(["hello there", "好的"]) == "zh"

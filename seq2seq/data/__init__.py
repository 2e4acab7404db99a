"""The Cornell Movie-Dialogs data: locate or download the corpus, parse it, build examples,
split them by movie (or conversation chain), train the tokenizer and cache the encoded splits.

    corpus = resolve_corpus(args.corpus)  # --corpus > $CORNELL_CORPUS > ./corpora/cornell
    data = prepare_data(config.data, corpus)  # PreparedData(tokenizer, splits, stats, key, ...)
    data.splits["train"].src[i], data.splits["train"].tgt[i]  # int32 ids, no bos/eos

`python -m seq2seq.data --corpus PATH` prints the statistics.
"""

from seq2seq.data.corpus import read_corpus, resolve_corpus
from seq2seq.data.dialogues import Conversation, Dialogues, Turn
from seq2seq.data.download import CORPUS_SHA256, CORPUS_URLS, download_corpus
from seq2seq.data.examples import Example, Split, build_examples
from seq2seq.data.prepare import PreparedData, encode_corpus, prepare_data
from seq2seq.data.splits import SPLITS

__all__ = [
    "CORPUS_SHA256",
    "CORPUS_URLS",
    "SPLITS",
    "Conversation",
    "Dialogues",
    "Example",
    "PreparedData",
    "Split",
    "Turn",
    "build_examples",
    "download_corpus",
    "encode_corpus",
    "prepare_data",
    "read_corpus",
    "resolve_corpus",
]

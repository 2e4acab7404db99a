"""Which way a model reads the exchanges: forward, backward, or as a reply language model.

    forward   p(reply | prompt)   the chatbot
    backward  p(prompt | reply)   Li et al. (2016)'s p(S|T), for MMI-bidi reranking
    reply_lm  p(reply)            the reply language model of MMI-antiLM: the source is empty

The direction is applied to prepared splits, after the cache: all three share one cache folder,
hence one tokenizer and the very same examples in every split (so each split stays leak-free),
with the two sides swapped or the prompt replaced by `seq2seq.tokenizer.empty_source`. The length
filters and `data.filter` therefore always speak of the prompt (source) and reply (target) of
the forward model.

Li, Galley, Brockett, Gao, Dolan (2016), "A Diversity-Promoting Objective Function for Neural
Conversation Models", NAACL.
"""

from __future__ import annotations

import numpy as np

from seq2seq.data.examples import Split
from seq2seq.tokenizer import Tokenizer, empty_source


def orient(split: Split, direction: str, tokenizer: Tokenizer) -> Split:
    """`split` read in `direction` (see the module docstring); forward returns it unchanged."""
    if direction == "forward":
        return split
    if direction == "backward":
        return Split(split.name, split.tgt, split.src, split.tgt_text, split.src_text)
    if direction == "reply_lm":
        empty = np.array(empty_source(tokenizer.eos_id), dtype=np.int32)
        return Split(split.name, [empty] * len(split), split.tgt, [""] * len(split), split.tgt_text)
    raise ValueError(f"unknown direction {direction!r}")

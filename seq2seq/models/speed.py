"""The CPU fast paths, applied to a built model from outside its files (as nanoGPT's train.py
applies `torch.compile`): the model files use `nn.Linear` and `nn.Dropout`, and

    model = speed_up(build_model(config, tokenizer), device)

turns, on a CPU, every `nn.Linear` into `FewRowLinear` (the few rows of decoding arranged as
W x^T: seq2seq/models/linear.py) and every `nn.Dropout` into `FastDropout` (one 32-bit random
draw per two elements: seq2seq/models/dropout.py). The modules keep their parameters (the same
tensors: tied weights stay tied), names and hooks; only their class changes, so checkpoints do
not. Training (seq2seq/training/loop.py) and every trained model loaded for decoding
(`seq2seq.checkpoint.load_trained`) go through it.

`SEQ2SEQ_SPEED_UP=0` in the environment switches it off: plain torch modules everywhere (the
products then equal these up to float rounding; dropout draws other random numbers).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from seq2seq.models.dropout import FastDropout
from seq2seq.models.linear import FewRowLinear

ENV_VAR = "SEQ2SEQ_SPEED_UP"
# exact types only: a subclass (or a module already swapped) keeps its own forward
FAST_CPU_CLASSES: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: FewRowLinear,
    nn.Dropout: FastDropout,
}


def speed_up_enabled() -> bool:
    """False when $SEQ2SEQ_SPEED_UP is 0 (the one switch), else True."""
    return os.environ.get(ENV_VAR, "1").strip() != "0"


def speed_up(model: nn.Module, device: torch.device | str) -> nn.Module:
    """Give `model`'s modules their CPU fast paths in place, when `device` is a CPU and the
    switch is on; return the model. Both fast paths fall back to torch's own computation on
    any other device, so a model sped up and then moved stays correct."""
    if torch.device(device).type != "cpu" or not speed_up_enabled():
        return model
    for module in model.modules():
        fast = FAST_CPU_CLASSES.get(type(module))
        if fast is not None:
            module.__class__ = fast  # same attributes, parameters and names; another forward
    return model

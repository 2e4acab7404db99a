"""Decoding throughput: greedy with the key/value cache against full recomputation; beam vs greedy.

Every run generates exactly `settings.new_tokens` tokens per source (64; 16 with --quick):
decoding asks for min_len = max_len, so eos is never allowed and no row stops early (an
untrained model's choices do not matter).

- cached: `seq2seq.decoding.greedy`, which encodes once and feeds one token per
  `model.decode_step`, the decoder reusing the keys and values of earlier positions.
- recomputed: the same greedy choice (the most probable token other than bos, pad and eos) from
  `model(src, src_mask, tgt_in)` on the growing prefix, taking the last position's logits: what
  decoding costs without an incremental interface (the encoder reruns, every position is
  recomputed and projected to the vocabulary at every step).
- beam: `seq2seq.decoding.beam_search` with 5 beams, at batch 1 (a chat line); new tokens are
  those of the returned reply.
- few-row products (CPU only): the matrix products of one beam step (5 rows: every decoder
  projection but the once-per-source cross-attention keys/values, and the output projection)
  through the sped-up models' `seq2seq.models.linear.FewRowLinear`, against `F.linear` on the
  same weights.
- MMI (docs/mmi.md), replies/s against greedy with cache on the same sources, replies of
  `MMI_REPLY_TOKENS` tokens (about the corpus's median reply; eos forbidden until then): anti-LM
  with a separate reply LM (batch 1 and 64), MMI-bidi reranking a beam of 10 with a backward
  model, and sample-and-rank over 10 samples (batch 1, a chat line). The extra models are
  untrained copies of the forward model's architecture: only their cost is measured.

Both greedy variants must produce the same tokens; the figure's details say whether they did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.harness import Figure, throughput_figure, time_in_turns
from benchmarks.workload import Settings, Vocabulary, decoding_sources, examples
from seq2seq.config import DecodeConfig
from seq2seq.decoding import Decoding, generate
from seq2seq.device import Precision
from seq2seq.mmi import Scorers
from seq2seq.mmi import generate as mmi_generate
from seq2seq.models import Seq2SeqModel, build_model
from seq2seq.models.linear import LARGE_WEIGHT, FewRowLinear
from seq2seq.models.speed import speed_up

WARMUP_TOKENS = 8  # warm-up decodes are short: they only need to touch every code path once
BATCH_SIZES = (1, 64)
BEAM_SIZE = 5
STEPS_PER_CALL = 20  # beam steps' products per timed call of the few-row products
MMI_REPLY_TOKENS = 10  # tokens per reply in the MMI figures
MMI_METHODS = {  # figure suffix -> (label, decode settings, batch sizes)
    "antilm": ("MMI-antiLM, reply LM (lambda 0.4, gamma 3)",
               dict(strategy="greedy", mmi="antilm", mmi_lambda=0.4, mmi_gamma=3), (1, 64)),
    "bidi10": ("MMI-bidi over beam 10 (lambda 1)",
               dict(strategy="beam", beam_size=10, mmi="bidi", mmi_lambda=1.0), (1,)),
    "rank10": ("Sample-and-rank, 10 samples (tau 0.7)",
               dict(strategy="sample", num_samples=10, temperature=0.7), (1,)),
}


def greedy_recomputed(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, vocab: Vocabulary, new_tokens: int
) -> Tensor:
    """Greedy decoding by re-running the whole model on the prefix at every step.

    Returns:
        (B, new_tokens) generated ids (eos forbidden throughout, like min_len = new_tokens).
    """
    forbidden = [vocab.bos_id, vocab.pad_id, vocab.eos_id]
    tgt_in = torch.full((src.size(0), 1), vocab.bos_id, dtype=torch.long, device=src.device)
    with torch.inference_mode():
        for _ in range(new_tokens):
            logits = model(src, src_mask, tgt_in)[:, -1].float()  # (B, V) the newest position
            logits[:, forbidden] = float("-inf")
            tgt_in = torch.cat([tgt_in, logits.argmax(-1, keepdim=True)], dim=1)
    return tgt_in[:, 1:]


def greedy_cached(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, vocab: Vocabulary, new_tokens: int
) -> list[list[int]]:
    return generate(model, src, src_mask, fixed_length("greedy", vocab, new_tokens)).tokens


def beam(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, vocab: Vocabulary, new_tokens: int
) -> list[list[int]]:
    return generate(model, src, src_mask, fixed_length("beam", vocab, new_tokens)).tokens


def fixed_length(strategy: str, vocab: Vocabulary, new_tokens: int) -> Decoding:
    """Exactly `new_tokens` new tokens (eos forbidden until then), beams of `BEAM_SIZE`."""
    config = DecodeConfig(strategy=strategy, max_len=new_tokens, min_len=new_tokens,
                          beam_size=BEAM_SIZE)
    return Decoding.of(config, vocab)


def run(settings: Settings) -> list[Figure]:
    """Cached vs recomputed greedy at each batch size, beam vs greedy at batch 1, per precision."""
    config = settings.transformer_config()
    vocab = examples(settings).vocab
    torch.manual_seed(settings.seed)
    model = speed_up(build_model(config.model, vocab).to(settings.device), settings.device).eval()
    figures = []
    for precision in settings.precisions:
        for batch_size in BATCH_SIZES:
            batch = decoding_sources(settings, batch_size).to(settings.device)
            figures += _measure(model, batch.src, batch.src_mask, vocab, precision, settings)
    if settings.device.type == "cpu":
        figures.append(few_row_products(model, settings))
    figures += mmi_costs(model, vocab, settings)
    return figures


def mmi_costs(model: Seq2SeqModel, vocab: Vocabulary, settings: Settings) -> list[Figure]:
    """Replies/s of each `MMI_METHODS` entry against greedy with cache, per batch size and
    precision, every reply `MMI_REPLY_TOKENS` tokens long (fewer with --quick)."""
    torch.manual_seed(settings.seed + 1)
    config = settings.transformer_config()
    extra = speed_up(build_model(config.model, vocab).to(settings.device), settings.device).eval()
    scorers = Scorers(backward=extra, reply_lm=extra)  # one untrained model plays both roles
    new_tokens = min(settings.new_tokens, MMI_REPLY_TOKENS)
    generator = torch.Generator(settings.device).manual_seed(settings.seed)

    def decoder(src: Tensor, src_mask: Tensor, precision: str,
                **decode: Any) -> Callable[[], list[list[int]]]:
        decoding = Decoding.of(DecodeConfig(max_len=new_tokens, min_len=new_tokens, **decode),
                               vocab)
        autocast = Precision(precision, settings.device).autocast

        def call() -> list[list[int]]:
            with autocast():
                return mmi_generate(model, src, src_mask, decoding, scorers=scorers,
                                    generator=generator).tokens

        return call

    figures = []
    for precision in settings.precisions:
        for batch_size in BATCH_SIZES:
            methods = {name: method for name, method in MMI_METHODS.items()
                       if batch_size in method[2]}
            batch = decoding_sources(settings, batch_size).to(settings.device)
            calls = {name: decoder(batch.src, batch.src_mask, precision, **method[1])
                     for name, method in methods.items()}
            calls["greedy"] = decoder(batch.src, batch.src_mask, precision, strategy="greedy")
            for call in calls.values():
                call()  # warm-up
            timing = time_in_turns(calls, settings.device, settings.repeats, settings.budget_s)
            figures += [throughput_figure(
                f"decode.{name}.b{batch_size}.{precision}",
                f"{label}, batch {batch_size} ({precision})", batch_size, "replies/s",
                timing.times[name], "greedy with cache", reference_times=timing.times["greedy"],
                note=f"replies of {new_tokens} tokens",
            ) for name, (label, _, _) in methods.items()]
    return figures


def few_row_products(model: Seq2SeqModel, settings: Settings) -> Figure:
    """The products of `STEPS_PER_CALL` beam steps (`BEAM_SIZE` rows each) through the models'
    `FewRowLinear` (arranged as W x^T for few rows) against `F.linear` (x W^T) on the same
    weights."""
    layers = [
        module for name, module in model.named_modules()
        if isinstance(module, FewRowLinear) and not name.startswith("encoder")
        and not name.endswith("cross_attn.kv_proj")  # keys/values: once per source
    ]
    rows = [torch.randn(BEAM_SIZE, layer.in_features) for layer in layers]

    def arranged() -> None:
        for _ in range(STEPS_PER_CALL):
            for layer, x in zip(layers, rows, strict=True):
                layer(x)

    def plain() -> None:
        for _ in range(STEPS_PER_CALL):
            for layer, x in zip(layers, rows, strict=True):
                F.linear(x, layer.weight, layer.bias)

    with torch.inference_mode():
        arranged(), plain()
        timing = time_in_turns({"arranged": arranged, "plain": plain}, settings.device,
                               settings.repeats, settings.budget_s)
    megabytes = sum(layer.weight.numel() for layer in layers) * 4 / 2**20
    large = sum(layer.weight.numel() >= LARGE_WEIGHT for layer in layers)
    return throughput_figure(
        f"decode.linear.rows{BEAM_SIZE}", f"Decoder products at {BEAM_SIZE} rows (beam step)",
        STEPS_PER_CALL, "steps/s", timing.times["arranged"], "F.linear",
        reference_times=timing.times["plain"],
        note=f"{len(layers)} products reading {megabytes:.0f} MiB of weights per step; "
             f"{large} of them large enough to be arranged",
    )


def _measure(model: Seq2SeqModel, src: Tensor, src_mask: Tensor, vocab: Vocabulary,
             precision: str, settings: Settings) -> list[Figure]:
    # Beam search answers one chat line at a time: it is timed at batch 1 only (at batch 64 it
    # would cost minutes per repeat on a CPU). Memory matters at the largest batch.
    b, p = src.size(0), precision
    strategies = {"cached": greedy_cached, "recomputed": greedy_recomputed}
    if b == 1:
        strategies["beam"] = beam

    autocast = Precision(precision, settings.device).autocast

    def bind(strategy: Callable[..., Any], new_tokens: int) -> Callable[[], Any]:
        def call() -> Any:
            with autocast():
                return strategy(model, src, src_mask, vocab, new_tokens)

        return call

    warm = {name: bind(strategy, WARMUP_TOKENS)() for name, strategy in strategies.items()}
    identical = warm["cached"] == warm["recomputed"].tolist()
    timing = time_in_turns(
        {name: bind(strategy, settings.new_tokens) for name, strategy in strategies.items()},
        settings.device, settings.repeats, settings.budget_s,
        measure_memory=b == max(BATCH_SIZES),
    )
    new_tokens = b * settings.new_tokens
    lengths = src_mask.sum(1).tolist()
    where = f"source of {lengths[0]} tokens" if b == 1 else (
        f"sources of {min(lengths)}-{max(lengths)} tokens")
    figures = [throughput_figure(
        f"decode.greedy.b{b}.{p}", f"Greedy decoding with KV cache, batch {b} ({p})", new_tokens,
        "tok/s", timing.times["cached"], "full recomputation",
        reference_times=timing.times["recomputed"], goal=(">=", 5.0) if b == 1 else None,
        note=f"{settings.new_tokens} new tokens per source, {where}; the same tokens as "
             f"recomputation: {'yes' if identical else 'NO'}",
        details={"identical_tokens": identical},
    )]
    if "beam" in strategies:
        figures.append(throughput_figure(
            f"decode.beam{BEAM_SIZE}.b{b}.{p}", f"Beam search ({BEAM_SIZE} beams), batch {b} ({p})",
            new_tokens, "tok/s", timing.times["beam"], "greedy with cache",
            reference_times=timing.times["cached"], goal=(">=", 0.8),
            note="tokens of the returned reply",
        ))
    if timing.peak_mib:
        figures.append(Figure(
            f"memory.decode.b{b}.{p}", f"Greedy decoding peak memory, batch {b} ({p})",
            timing.peak_mib["cached"], "MiB", "full recomputation",
            timing.peak_mib["recomputed"], note=timing.memory_method,
        ))
    return figures

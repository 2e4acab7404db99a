"""Training throughput: the handwritten Transformer against `torch.nn.Transformer`, and the GRU.

A training step is the training loop's own `seq2seq.training.step.train_step` on one batch:
forward, the label-smoothed cross-entropy over the real target tokens, backward, gradient
clipping, a step of its AdamW and of the learning-rate schedule, so a change to any of them
shows here. Throughput is target
tokens (the non-pad positions of `tgt_out`, which the loss is computed on) per second over a
pass through the same few bucketed batches for every model.

The reference wraps `torch.nn.Transformer` in the same shell as the handwritten model (shared
embedding * sqrt(D) plus sinusoidal positions and the same dropout function, an output
projection tied to the embedding when the config ties them) with the same shape (d_model,
heads, layers, d_ff, dropout, activation, pre/post-LN, final LayerNorms only with pre-LN) and
the same masks (source key padding for self- and cross-attention, causal target). It is called
as its documentation recommends for speed: `batch_first=True` and the `tgt_is_causal` hint.

Per-parameter comparison: "parameter-tokens per second" = tokens/s x parameters. A forward and
backward pass costs about 6 FLOPs per parameter per token (Kaplan et al., 2020), so 6 x this
figure approximates the arithmetic each model gets out of the machine: whether its layers keep
the hardware busy (large matrix products) or leave it waiting (sequential steps, small ops).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.harness import Figure, Timing, throughput_figure, time_in_turns
from benchmarks.workload import Settings, examples, training_batches
from seq2seq.batching import Batch
from seq2seq.config import Config, TrainConfig
from seq2seq.device import Precision
from seq2seq.models import Seq2SeqModel, build_model
from seq2seq.models.dropout import FastDropout
from seq2seq.models.speed import speed_up
from seq2seq.models.transformer import TransformerConfig, sinusoidal_positions
from seq2seq.training.feeding import Feeding
from seq2seq.training.optim import build_optimizer, build_scheduler
from seq2seq.training.step import Objective, train_step

# Dense bf16 tensor-core peaks in TFLOP/s (vendor datasheets, without sparsity), matched in
# order against torch.cuda.get_device_name(); --peak-tflops overrides.
GPU_BF16_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
)


class ReferenceTransformer(nn.Module):
    """`torch.nn.Transformer` in the handwritten model's shell: `forward(src, src_mask, tgt_in)`."""

    def __init__(self, config: TransformerConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        c = config
        self.scale = math.sqrt(c.d_model)
        self.embed = nn.Embedding(vocab_size, c.d_model, padding_idx=pad_id)
        self.register_buffer("pe", sinusoidal_positions(c.max_len, c.d_model), persistent=False)
        # the shell's dropout is the handwritten model's after speed_up (nn.Transformer's own
        # layers keep theirs: the reference is torch's as it comes)
        self.dropout = FastDropout(c.dropout)
        layer_args = dict(
            d_model=c.d_model, nhead=c.n_heads, dim_feedforward=c.d_ff, dropout=c.dropout,
            activation=c.activation, batch_first=True, norm_first=c.norm == "pre",
        )

        def final_norm() -> nn.LayerNorm | None:  # as the handwritten model: only with pre-LN
            return nn.LayerNorm(c.d_model) if c.norm == "pre" else None

        with warnings.catch_warnings():  # "enable_nested_tensor is True, but ..." (pre-LN)
            warnings.simplefilter("ignore", UserWarning)
            encoder = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(**layer_args), c.n_layers, norm=final_norm()
            )
        decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer_args), c.n_layers, norm=final_norm()
        )
        self.transformer = nn.Transformer(
            d_model=c.d_model, nhead=c.n_heads, custom_encoder=encoder, custom_decoder=decoder,
            batch_first=True,
        )
        self.generator = nn.Linear(c.d_model, vocab_size, bias=False)
        if c.tie_embeddings:
            self.generator.weight = self.embed.weight

    def embed_positions(self, ids: Tensor) -> Tensor:
        return self.dropout(self.embed(ids) * self.scale + self.pe[: ids.size(1)])

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_mask (B, S) True on real tokens, tgt_in (B, T) -> (B, T, V)."""
        padding = ~src_mask  # torch's boolean masks are True where attending is NOT allowed
        T = tgt_in.size(1)
        causal = torch.ones(T, T, dtype=torch.bool, device=src.device).triu(1)
        h = self.transformer(
            self.embed_positions(src), self.embed_positions(tgt_in), tgt_mask=causal,
            src_key_padding_mask=padding, memory_key_padding_mask=padding, tgt_is_causal=True,
        )
        return self.generator(h)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_step(
    model: nn.Module, train: TrainConfig, pad_id: int, settings: Settings, precision: str
) -> Callable[[Batch], None]:
    """One optimisation step on a batch: the training loop's own `train_step` (teacher-forced,
    through the loop's `Feeding`), with its loss, AdamW, schedule, clipping and (for float16)
    gradient scaler."""
    optimizer = build_optimizer(model, train)
    scheduler = build_scheduler(optimizer, train)
    amp = Precision(precision, settings.device)
    objective = Objective(train, pad_id)
    fed = Feeding(model)

    def step(batch: Batch) -> None:
        train_step(fed, [batch], optimizer, scheduler, amp, objective)

    return step


def count_flops(step: Callable[[Batch], None], batches: list[Batch]) -> int:
    """Matmul and attention FLOPs of one pass of `step` over `batches` (forward + backward),
    counted by torch's FlopCounterMode on the padded shapes the hardware actually computes."""
    counter = FlopCounterMode(display=False)
    with counter:
        for batch in batches:
            step(batch)
    return counter.get_total_flops()


def gpu_peak_tflops(settings: Settings) -> tuple[float | None, str]:
    """The device's dense bf16 peak and where it came from."""
    if settings.peak_tflops is not None:
        return settings.peak_tflops, "--peak-tflops"
    if settings.device.type != "cuda":
        return None, ""
    name = torch.cuda.get_device_name(settings.device)
    for key, tflops in GPU_BF16_PEAK_TFLOPS:
        if key in name:
            return tflops, f"{name}'s dense bf16 peak"
    return None, f"{name}: unknown peak (pass --peak-tflops)"


def build(config: Config, settings: Settings) -> Seq2SeqModel:
    vocab = examples(settings).vocab
    torch.manual_seed(settings.seed)
    return speed_up(build_model(config.model, vocab).to(settings.device), settings.device).train()


def run(settings: Settings) -> list[Figure]:
    """Training throughput and peak step memory, for every precision of the run."""
    transformer_config, gru_config = settings.transformer_config(), settings.gru_config()
    vocab = examples(settings).vocab
    batches = [b.to(settings.device) for b in training_batches(settings, settings.train_batches)]
    tokens = sum(int((b.tgt_out != vocab.pad_id).sum()) for b in batches)
    shapes = ", ".join(f"{b.size}x({b.src.size(1)}+{b.tgt_in.size(1)})" for b in batches)
    note = f"{len(batches)} batches B x (S+T): {shapes}; {examples(settings).source}"
    figures = []
    for precision in settings.precisions:
        ours = build(transformer_config, settings)
        torch.manual_seed(settings.seed)
        reference = ReferenceTransformer(transformer_config.model, vocab.vocab_size, vocab.pad_id)
        reference = reference.to(settings.device).train()
        gru = build(gru_config, settings)
        steps = {
            "transformer": make_step(ours, transformer_config.train, vocab.pad_id, settings,
                                     precision),
            "nn.Transformer": make_step(reference, transformer_config.train, vocab.pad_id,
                                        settings, precision),
            "gru": make_step(gru, gru_config.train, vocab.pad_id, settings, precision),
        }
        flops = count_flops(steps["transformer"], batches)  # also its warm-up
        for step in steps.values():
            step(batches[-1])  # the largest batch: later ones reuse its allocations
        passes = {name: one_pass(step, batches) for name, step in steps.items()}
        timing = time_in_turns(passes, settings.device, settings.repeats, settings.budget_s,
                               measure_memory=True)
        figures += _figures(timing, precision, tokens, note, ours, reference, gru, flops,
                            settings)
    return figures


def one_pass(step: Callable[[Batch], None], batches: list[Batch]) -> Callable[[], None]:
    """A call that runs `step` on every batch once: the unit that is timed (and profiled)."""

    def run_pass() -> None:
        for batch in batches:
            step(batch)

    return run_pass


def _figures(timing: Timing, precision: str, tokens: int, note: str, ours: nn.Module,
             reference: nn.Module, gru: nn.Module, flops: int, settings: Settings) -> list[Figure]:
    times, memory = timing.times, timing.peak_mib
    p = precision
    figures = [
        throughput_figure(
            f"train.transformer.{p}", f"Transformer training ({p})", tokens, "tok/s",
            times["transformer"], "nn.Transformer", reference_times=times["nn.Transformer"],
            goal=(">=", 1.2), note=note,
            details={"params": num_parameters(ours), "reference_params": num_parameters(reference)},
        ),
        throughput_figure(
            f"train.gru.{p}", f"GRU training ({p})", tokens, "tok/s", times["gru"],
            "Transformer", reference_times=times["transformer"],
            details={"params": num_parameters(gru)},
        ),
    ]
    params_ours, params_gru = num_parameters(ours), num_parameters(gru)
    figures.append(throughput_figure(
        f"train.gru.{p}.param_tokens", f"GRU parameter-tokens/s ({p})", tokens * params_gru / 1e9,
        "G param-tok/s", times["gru"], "Transformer", tokens * params_ours / 1e9,
        times["transformer"],
        note=f"tokens/s x parameters (GRU {params_gru / 1e6:.1f}M, Transformer "
             f"{params_ours / 1e6:.1f}M); x 6 ~ training FLOP/s",
        details={"params": params_gru, "reference_params": params_ours},
    ))
    achieved = throughput_figure(
        f"train.transformer.{p}.tflops", f"Transformer training FLOP rate ({p})", flops / 1e12,
        "TFLOP/s", times["transformer"],
        note="matmul + attention FLOPs of forward and backward counted by FlopCounterMode on "
             "padded shapes",
        details={"flops_per_pass": flops},
    )
    peak, peak_source = gpu_peak_tflops(settings)
    if p == "bf16" and peak:  # model FLOPs utilisation
        achieved.reference, achieved.reference_value = peak_source, peak
        achieved.note += f"; ratio = model FLOPs utilisation (MFU) against the {peak_source}"
    elif p == "bf16" and peak_source:
        achieved.note += f"; no MFU: {peak_source}"
    figures.append(achieved)
    for name, label, reference, reference_label in (
        ("transformer", "Transformer", "nn.Transformer", "nn.Transformer"),
        ("gru", "GRU", "transformer", "Transformer"),
    ):
        figures.append(Figure(
            f"memory.train.{name}.{p}", f"{label} training peak memory ({p})", memory[name],
            "MiB", reference_label, memory[reference],
            note="what one pass adds to weights and optimizer state (activations, gradients); "
                 + timing.memory_method,
        ))
    return figures

"""Building a model around trained weights without initialising it first.

A freshly built model draws every parameter at random (`nn.Linear`, `nn.Embedding` and `nn.GRU`
in their constructors, the Transformer once more in `_init_weights`), which a trained model's
weights then overwrite: for the 17M parameters of configs/transformer.yaml, 0.2 s or more of
random numbers at every chat start, and a copy. Here the random draws are skipped
(`SkipRandomInit`: the parameters stay `torch.empty`, never touched) and the checkpoint's tensors
become the parameters themselves (`assign_weights`): nothing is copied, so the weights of a
memory-mapped checkpoint are read from disk only as the model uses them.

Everything deterministic still runs as in training, so the buffers that checkpoints leave out
(the Transformer's sinusoidal table) are computed as usual. This is why the model is built on
its real device rather than on the meta device (`torch.device("meta")`): there, those buffers
would need rebuilding, and torch 2.13 imports all of torch._dynamo (2 s) the first time a meta
tensor is filled by `normal_`, as is a `TorchDispatchMode`'s first call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

# The random fills of nn.init, and the tensor methods they end in: a call reaches
# `SkipRandomInit` at one level or the other, depending on whether the function dispatches
# to the mode itself (after which calls inside it are no longer seen).
RANDOM_FILLS: frozenset[Callable[..., Any]] = frozenset({
    Tensor.uniform_, Tensor.normal_,
    nn.init.uniform_, nn.init.normal_, nn.init.trunc_normal_,
    nn.init.xavier_uniform_, nn.init.xavier_normal_,
    nn.init.kaiming_uniform_, nn.init.kaiming_normal_,
    nn.init.orthogonal_, nn.init.sparse_,
})


class SkipRandomInit(TorchFunctionMode):
    """Within this context, random initialisation leaves tensors as they are (uninitialised
    memory from `torch.empty`): for models whose every parameter is assigned afterwards. The
    global random generator is left untouched too."""

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        if func in RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **(kwargs or {}))


def assign_weights(model: nn.Module, weights: Mapping[str, Tensor]) -> None:
    """Make `weights` (a state dict of the same architecture) the model's parameters and
    persistent buffers, without copying them.

    Tensors are converted to the model's dtypes where they differ (as copying into the model
    would), and parameters the model shares (tied embeddings) stay one parameter: assigning
    gives each name its own.

    Raises:
        RuntimeError, TypeError: (torch's `load_state_dict`) a key is missing or unexpected, a
            shape differs, a value is not a tensor, or `weights` is not a mapping; the model is
            then unusable.
    """
    shared = shared_parameters(model)
    dtypes = {name: tensor.dtype for name, tensor in model.state_dict().items()}
    if isinstance(weights, Mapping):  # else load_state_dict says what it got instead
        converted = OrderedDict(
            (name, value.to(dtypes[name]) if isinstance(value, Tensor) and name in dtypes
             else value)
            for name, value in weights.items()
        )
        # the modules' state-dict versions, which load_state_dict reads (as it keeps them)
        converted._metadata = getattr(weights, "_metadata", None)
        weights = converted
    model.load_state_dict(weights, assign=True)
    for name, owner in shared.items():
        module, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(module), attribute, model.get_parameter(owner))


def shared_parameters(model: nn.Module) -> dict[str, str]:
    """{name: first name} for every parameter also registered under an earlier name."""
    first: dict[int, str] = {}
    shared = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in first:
            shared[name] = first[id(parameter)]
        else:
            first[id(parameter)] = name
    return shared

"""Training: the loop (`loop.py`) around one optimizer update (`step.py`), its optimiser and
schedules (`optim.py`), the frequency-aware loss (`face.py`), several processes
(`distributed.py`), random states (`rng.py`), validation (`validation.py`), checkpoint selection
(`selection.py`), reporting (`log.py`), resume checks (`resume.py`), and clean stops on signals
(`signals.py`). The device and precision are seq2seq/device.py's, the run folder
seq2seq/runs.py's."""

from seq2seq.training.loop import TrainingDiverged, TrainOptions, TrainResult, train

__all__ = ["TrainOptions", "TrainResult", "TrainingDiverged", "train"]

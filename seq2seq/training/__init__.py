"""Training: the loop (`loop.py`), its optimiser and schedules (`optim.py`), devices, mixed
precision and several GPUs (`device.py`), validation (`evaluate.py`), reporting (`log.py`),
the run folder and resume checks (`run.py`), and clean stops on signals (`signals.py`)."""

from seq2seq.training.loop import TrainingDiverged, TrainOptions, TrainResult, train

__all__ = ["TrainOptions", "TrainResult", "TrainingDiverged", "train"]

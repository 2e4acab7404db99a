"""Training: the loop (`loop.py`) around one optimizer update (`step.py`), its optimiser and
schedules (`optim.py`), the frequency-aware loss (`face.py`), several processes
(`distributed.py`), random states (`rng.py`), validation (`validation.py`), checkpoint selection
(`selection.py`) and the files it writes (`saving.py`), reporting (`log.py`) and the time
estimate (`estimate.py`), resume checks (`resume.py`), the run folder's claim (`run_folder.py`),
stop conditions and divergence (`stopping.py`), and clean stops on signals (`signals.py`). The
device and precision are seq2seq/device.py's, the run folder's names seq2seq/runs.py's."""

from seq2seq.training.loop import TrainOptions, TrainResult, train
from seq2seq.training.stopping import TrainingDiverged

__all__ = ["TrainOptions", "TrainResult", "TrainingDiverged", "train"]

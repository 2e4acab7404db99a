"""Neural chatbots trained from scratch: a handwritten Transformer and a GRU + Luong baseline.

Importing the package sets OMP_WAIT_POLICY=PASSIVE, unless the environment sets it, so that it
applies when torch loads OpenMP after it (train.py, chat.py and compare.py import the package
first). With torch's default, OpenMP threads spin while they wait for each other; on a machine
busy with other work the spinning threads take the time slices of the one that holds the work,
and every parallel region waits for a scheduler tick. Measured on the 2-core development VM
with two other busy processes: compare.py decoded 5.6 replies/s with torch's defaults, 55 with
PASSIVE and 82 with one thread (`--threads 1`); on the idle VM PASSIVE costs nothing measurable
(benchmarks/README.md, "Threads"). Set OMP_WAIT_POLICY=ACTIVE to get torch's behaviour back.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

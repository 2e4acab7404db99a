"""Compare trained runs on the same held-out examples: `python compare.py RUN_A RUN_B [...]`.

See `python compare.py --help`; the work happens in `seq2seq.comparison`.
"""

from seq2seq.comparison.cli import main
from seq2seq.errors import run_cli

if __name__ == "__main__":
    run_cli(main)

"""Compare trained runs on the same held-out examples, with greedy decoding (or --decode's).

    python compare.py runs/transformer-A runs/gru-B                 # their test split
    python compare.py runs/transformer-A runs/gru-B --limit 500     # a quick look on a CPU
    python compare.py RUN_A RUN_B --split all --corpus other.tsv    # data no run has seen
    python compare.py RUN_A RUN_B --prompts my-questions.txt        # your own prompts
    python compare.py RUN --decode greedy=greedy --decode bidi=beam=5,mmi=bidi \
        --backward RUN_BACKWARD --evaluator RUN_EVALUATOR             # docs/mmi.md

The table goes to stdout; report.md, report.json, attention heat-maps (PNG) and TensorBoard
events go to --out (default runs/compare-<timestamp>/). The work happens in `seq2seq.comparison`.
"""

from seq2seq.comparison.cli import main
from seq2seq.errors import run_cli

if __name__ == "__main__":
    run_cli(main)

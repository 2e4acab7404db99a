"""Comparing trained runs on the same examples (`python compare.py RUN_A RUN_B`).

    pipeline.py     load runs, check they are comparable, pick the examples, evaluate each run
    scoring.py      teacher-forced NLL per example and timed batched greedy decoding
    text.py         BLEU, distinct-n, reply length, most frequent replies
    bootstrap.py    paired bootstrap intervals of perplexity differences and of ratios of sums
    relevance.py    hits@1/5, MRR and the context gap with intervals, distractors.jsonl
                    (the definitions and scoring: seq2seq/relevance.py)
    references.py   the GT/RT reference rows of the reply statistics
    attention.py    cross-attention heat-maps of greedy replies
    results.py      the numbers, with the count each rests on
    report.py       Markdown (stdout, report.md) and report.json
    tensorboard.py  one TensorBoard writer per run
    cli.py          the command line
"""

"""A comparison from start to finish: load runs, pick the shared examples, score, report.

    runs -> one tokenizer check -> examples (a split of the runs' data, an external corpus, or
    the user's prompts) -> distractors (drawn once) -> per run (and --decode setting):
    teacher-forced NLL, replies (greedy unless --decode says otherwise), reply statistics,
    relevance (hits@k, MRR, context gap), the --evaluator's prompt retrieval -> paired bootstrap
    of perplexity differences, reference rows -> report.md, report.json, distractors.jsonl,
    TensorBoard, PNGs
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from seq2seq import diversity
from seq2seq.checkpoint import Trained, load_trained
from seq2seq.comparison import text
from seq2seq.comparison.attention import AttentionImage, attention_images
from seq2seq.comparison.bootstrap import RESAMPLES, perplexity_difference_intervals
from seq2seq.comparison.decodings import describe, parse_decodes
from seq2seq.comparison.groups import (
    Group,
    GroupDifference,
    check_seeds_only,
    hierarchical_intervals,
    perplexity_statistic,
    summarize,
    top1_statistic,
)
from seq2seq.comparison.references import reference_rows, reply_stats
from seq2seq.comparison.relevance import relevance, write_distractors
from seq2seq.comparison.results import Comparison, Difference, RunResult, Sample
from seq2seq.comparison.retrieval import prompt_retrieval
from seq2seq.comparison.scoring import (
    TeacherForced,
    eval_batches,
    teacher_forced,
    timed_replies,
)
from seq2seq.comparison.tensorboard import SAMPLES_FOLDER
from seq2seq.config import DataConfig
from seq2seq.data import encode_corpus, prepare_data, resolve_corpus
from seq2seq.data.tsv import check_text
from seq2seq.decoding import Decoding
from seq2seq.errors import UserError
from seq2seq.metrics import perplexity
from seq2seq.mmi import FLAGS, Scorers, check_tokenizers, missing_model
from seq2seq.paths import what_it_is
from seq2seq.relevance import (
    CANDIDATES,
    Distractors,
    draw_distractors,
    score_candidates,
    too_few_replies,
)
from seq2seq.runs import checkpoint_path
from seq2seq.tokenizer import Tokenizer

SPLIT_CHOICES = ("test", "valid", "all")
DISTRACTORS_FILE = "distractors.jsonl"


@dataclass
class Options:
    """What to compare and how (the command line's arguments)."""

    runs: list[str]
    corpus: str | None = None
    split: str = "test"
    limit: int = 0  # 0: every example
    prompts: str | None = None  # a file of prompts, one per line: no references
    device: str = "cpu"
    batch_size: int = 64
    samples: int = 10
    seed: int = 0
    max_len: int = 0  # 0: the data config's max_tgt_len + 1 (any reference fits, with eos)
    attention: int = 3  # prompts drawn as heat-maps per run
    attention_heads: bool = False
    speed_passes: int = 3  # timed greedy passes per run, alternating runs; the median counts
    candidates: int = CANDIDATES  # hits@1/N: the gold reply and N-1 distractors; 0: not ranked
    decodes: list[str] = field(default_factory=list)  # --decode NAME=SETTINGS (decodings.py)
    extras: dict[str, str] = field(default_factory=dict)  # MMI's models: backward, reply_lm
    evaluator: str | None = None  # a backward run judging prompt retrieval (retrieval.py)
    # --group NAME=RUN1,RUN2,...: (name, run paths) entries of several seeds, after `runs`
    groups: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class Examples:
    """The shared examples: ids for the models, texts for people. tgt/references are None
    for prompts."""

    src: list[np.ndarray]
    prompts: list[str]
    tgt: list[np.ndarray] | None
    references: list[str] | None
    description: str  # where they come from, for the report
    # The training split's replies (ids, text): the generic distractors and the RT row. With
    # --split all, the external corpus's own; None with --prompts.
    train_tgt: list[np.ndarray] | None = None
    train_texts: list[str] | None = None


def run_labels(trained: list[Trained]) -> list[str]:
    """Labels from the run folders' names, with @<file> for a checkpoint other than the one
    the folder offers (runs/x/best.pt of a run that selected selected.pt: x@best)."""
    bases = []
    for run in trained:
        base = run.run_dir.name or run.path.stem
        bases.append(base if offered_by_folder(run) else f"{base}@{run.path.stem}")
    return unique_labels(bases)


def offered_by_folder(run: Trained) -> bool:
    """Whether the checkpoint is the one its folder offers (or the folder offers none)."""
    try:
        return run.path == checkpoint_path(run.run_dir)
    except UserError:  # not a run folder: a checkpoint kept elsewhere
        return True


def unique_labels(bases: list[str]) -> list[str]:
    """The names, a repeated one made unique with -2, -3, ..."""
    labels: list[str] = []
    for base in bases:
        label, k = base, 2
        while label in labels or label == SAMPLES_FOLDER:
            label, k = f"{base}-{k}", k + 1
        labels.append(label)
    return labels


def check_same_tokenizer(trained: list[Trained], labels: list[str]) -> None:
    """Refuse runs whose token ids mean different things: their losses are not comparable."""
    first = trained[0].tokenizer
    for run, label in zip(trained[1:], labels[1:], strict=True):
        other = run.tokenizer
        if other.fingerprint() != first.fingerprint():
            raise UserError(
                f"runs {labels[0]} and {label} use different tokenizers (vocab "
                f"{first.vocab_size} vs {other.vocab_size}, normalize {first.normalize} vs "
                f"{other.normalize}, fingerprints {first.fingerprint()[:12]} vs "
                f"{other.fingerprint()[:12]}); compare runs trained with the same data config"
            )


def shared_data_config(trained: list[Trained], labels: list[str]) -> DataConfig:
    """The runs' common data config (training-only keys such as data.filter at their defaults:
    they change no evaluation split); refuse runs whose splits could differ."""
    first = trained[0].config.data.evaluation_view()
    for run, label in zip(trained[1:], labels[1:], strict=True):
        data = run.config.data.evaluation_view()
        if data != first:
            keys = [f.name for f in fields(DataConfig)
                    if getattr(data, f.name) != getattr(first, f.name)]
            raise UserError(
                f"runs {labels[0]} and {label} have different data configs "
                f"({', '.join(f'data.{k}' for k in keys)}), so their splits differ; compare "
                "runs trained on the same data, or use --prompts"
            )
    return first


def recorded_corpus(trained: list[Trained]) -> str | None:
    """The corpus every run's checkpoint says it was trained on, when they agree and it is
    here; else None (the default corpus)."""
    corpora = {run.corpus for run in trained}
    if len(corpora) != 1 or None in corpora:
        return None
    (corpus,) = corpora
    return corpus if Path(corpus).exists() else None


def load_examples(options: Options, trained: list[Trained], labels: list[str]) -> Examples:
    """The examples every run is scored on, in a fixed order, cut to --limit."""
    tokenizer = trained[0].tokenizer
    if options.prompts is not None:
        examples = prompt_examples(Path(options.prompts), tokenizer, trained[0].config.data)
    else:
        data = shared_data_config(trained, labels)
        examples = split_examples(options, data, tokenizer, recorded_corpus(trained))
    if options.limit:
        examples = Examples(
            examples.src[: options.limit], examples.prompts[: options.limit],
            None if examples.tgt is None else examples.tgt[: options.limit],
            None if examples.references is None else examples.references[: options.limit],
            f"{examples.description}, first {options.limit}", examples.train_tgt,
            examples.train_texts,
        )
    if not examples.src:
        raise UserError(f"no examples to compare on ({examples.description})")
    return examples


def split_examples(
    options: Options, data: DataConfig, tokenizer: Tokenizer, recorded: str | None = None
) -> Examples:
    """A split of the runs' own data (test/valid) or every example of an external corpus.

    Args:
        recorded: the corpus the runs' checkpoints name, used for test/valid without --corpus.
    """
    if options.split not in SPLIT_CHOICES:
        raise UserError(f"--split {options.split}: choose one of {', '.join(SPLIT_CHOICES)}")
    if options.split == "all":
        if options.corpus is None:
            raise UserError("--split all evaluates an external corpus: pass it with --corpus")
        corpus = Path(options.corpus)
        split = train = encode_corpus(corpus, data, tokenizer)
        description = f"every example of {corpus}"
    else:
        prepared = prepare_data(data, resolve_corpus(options.corpus or recorded))
        if prepared.tokenizer.fingerprint() != tokenizer.fingerprint():
            raise UserError(
                f"the corpus {prepared.corpus} gives a different tokenizer than the runs': it is "
                "not the corpus they were trained on (pass that one with --corpus, or use "
                "--split all to evaluate on another corpus)"
            )
        split, train = prepared.splits[options.split], prepared.splits["train"]
        description = f"{options.split} split of {prepared.corpus}"
    return Examples(list(split.src), list(split.src_text), list(split.tgt),
                    list(split.tgt_text), description, list(train.tgt), list(train.tgt_text))


def prompt_examples(path: Path, tokenizer: Tokenizer, data: DataConfig) -> Examples:
    """The user's prompts, one per line; contexts longer than the models saw keep their end."""
    if not path.is_file():
        raise UserError(f"--prompts {path} {what_it_is(path)} (a file of prompts, one per line)")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read --prompts {path}: {error.strerror}") from None
    check_text(path, raw, "--prompts")
    try:
        prompts = [line.strip() for line in raw.decode("utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise UserError(f"--prompts {path}: not UTF-8 text; save it as UTF-8") from None
    kept, src = [], []
    for prompt in prompts:
        ids = tokenizer.encode_context([prompt])[-data.max_src_len :]
        if ids:  # a line the normalisation erases (blank, or no letters) is no prompt
            kept.append(prompt)
            src.append(np.asarray(ids, dtype=np.int64))
    return Examples(src, kept, None, None, f"prompts from {path}")


def comparison_decoding(options: Options, first: Trained) -> Decoding:
    """How every run's replies are decoded: plain greedy, at most --max-len new tokens
    (default: data.max_tgt_len + 1 of the first run, so that any reference fits, with eos)."""
    max_len = options.max_len or first.config.data.max_tgt_len + 1
    return Decoding.plain_greedy(max_len, first.tokenizer)


def examples_distractors(examples: Examples, options: Options) -> tuple[Distractors | None, str]:
    """The candidates every run ranks, the random ones from the compared examples' replies, the
    generic ones from the training split's; or None and why not (with --prompts, --candidates 0
    or too few different replies)."""
    if examples.references is None or examples.train_texts is None:
        return None, "not ranked: no references"
    if not options.candidates:
        return None, "not ranked (--candidates 0)"
    reason = too_few_replies(examples.references, examples.train_texts, options.candidates)
    if reason is not None:
        return None, f"not ranked: {reason} (pass fewer --candidates or more examples)"
    distractors = draw_distractors(examples.references, examples.references,
                                   examples.train_texts, examples.train_tgt, options.candidates,
                                   options.seed)
    return distractors, (f"gold reply + {options.candidates - 1} distractors per example, "
                         f"random and generic, in {DISTRACTORS_FILE}")


def decoded_runs(
    options: Options, trained: list[Trained], labels: list[str], scorers: Scorers
) -> list[tuple[Trained, str, Decoding]]:
    """(run, label, decoding) of everything compared: each run with the comparison's greedy, or
    with each --decode setting (labelled RUN+NAME).

    Raises:
        UserError: a --decode that is malformed, or that needs an MMI model not given.
    """
    base = comparison_decoding(options, trained[0])
    if not options.decodes:
        return [(run, label, base) for run, label in zip(trained, labels, strict=True)]
    settings = parse_decodes(options.decodes, base)
    for name, decoding in settings:
        flag = missing_model(decoding.config, scorers)
        if flag is not None:
            raise UserError(f"--decode {name}: mmi={decoding.config.mmi} needs a model: pass it "
                            f"with {flag} RUN")
    return [(run, f"{label}+{name}", decoding)
            for run, label in zip(trained, labels, strict=True) for name, decoding in settings]


def load_scorers(options: Options, trained: list[Trained]) -> Scorers:
    """MMI's extra models (--backward, --reply-lm), refused unless every run's tokenizer is
    theirs."""
    extra = {role: load_trained(path, options.device) for role, path in options.extras.items()}
    for run in trained:
        check_tokenizers(run, extra)
    return Scorers(**{role: model.model for role, model in extra.items()})


def evaluate_run(
    run: Trained, label: str, examples: Examples, options: Options, decoding: Decoding,
    distractors: Distractors | None = None, scorers: Scorers | None = None,
) -> tuple[RunResult, list[str], TeacherForced | None]:
    """Every number of one run on the shared examples, its replies (text) and its per-example
    scores (None with --prompts); relevance figures when `distractors` is given. Sampling draws
    from torch's generator seeded with --seed, so a comparison repeats."""
    tokenizer = run.tokenizer
    batches = eval_batches(examples.src, examples.tgt, options.batch_size)
    torch.manual_seed(options.seed)
    replies = timed_replies(
        run.model, tokenizer, examples.src, batches, decoding, label, scorers
    )
    texts = [tokenizer.decode(ids) for ids in replies.tokens]
    counts = diversity.reply_counts(texts)
    (distinct_1, unigrams), (distinct_2, bigrams) = (
        diversity.distinct_or_none(texts, n) for n in (1, 2)
    )
    result = RunResult(
        label=label, checkpoint=str(run.path), arch=run.config.model.arch, step=run.step,
        parameters=run.model.num_parameters(), n_replies=len(texts),
        distinct_1=distinct_1, distinct_2=distinct_2, distinct_1_ngrams=unigrams,
        distinct_2_ngrams=bigrams, distinct_2_per_word=diversity.distinct_n_per_word(texts, 2),
        mean_length=diversity.mean_length(texts), top1_share=counts.top1_share,
        top10_share=counts.top10_share, unique_share=counts.unique_share,
        replies_per_second=replies.per_second, decode_seconds=replies.seconds,
        top_replies=counts.top, speed_passes=[replies.per_second], epoch=run.epoch,
        train_minutes=None if run.train_seconds is None else run.train_seconds / 60,
        train_device=run.device,
    )
    if examples.tgt is None:
        return result, texts, None
    scores = teacher_forced(run.model, tokenizer, examples.src, examples.tgt, batches, label)
    n_words = text.reference_words(examples.references)
    # The split's references are normalised like the models' inputs (data.normalize), so a
    # reply is never penalised for casing or punctuation its tokenizer cannot produce.
    bleu = text.corpus_bleu(texts, examples.references)
    result.n_examples, result.n_tokens, result.n_words = (
        len(examples.src), int(scores.n_tokens.sum()), n_words,
    )
    result.loss, result.token_ppl = scores.loss, perplexity(scores.loss)
    result.word_ppl = perplexity(float(scores.nll_sum.sum()) / n_words)
    result.token_accuracy = scores.accuracy
    result.bleu, result.bleu_signature, result.bleu_detail = bleu.score, bleu.signature, bleu.detail
    if distractors is not None:
        candidates = score_candidates(run.model, tokenizer, examples.src, examples.tgt,
                                      examples.tgt, distractors, options.batch_size)
        result.relevance = relevance(candidates, options.seed)
    return result, texts, scores


def time_more_passes(
    entries: list[tuple[Trained, str, Decoding]], results: list[RunResult], examples: Examples,
    options: Options, scorers: Scorers,
) -> None:
    """Time `options.speed_passes - 1` more passes of each run and decoding, taking turns (so
    a burst of other work on the machine does not fall on one only); replies/s becomes the
    median of every pass. One pass can be far off on a shared machine."""
    batches = eval_batches(examples.src, examples.tgt, options.batch_size)
    for _ in range(options.speed_passes - 1):
        for (run, _, decoding), result in zip(entries, results, strict=True):
            replies = timed_replies(
                run.model, run.tokenizer, examples.src, batches, decoding, result.label, scorers
            )
            result.speed_passes.append(replies.per_second)
    for result in results:
        result.replies_per_second = statistics.median(result.speed_passes)


def judge_retrieval(
    options: Options, results: list[RunResult], examples: Examples, replies: list[list[str]]
) -> None:
    """Each result's prompt retrieval@1/20 by the --evaluator (seq2seq/comparison/retrieval.py)."""
    evaluator = load_trained(options.evaluator, options.device)
    for result, texts in zip(results, replies, strict=True):
        retrieval = prompt_retrieval(evaluator, examples.prompts, texts, options.seed)
        result.prompt_retrieval, result.n_retrieval = retrieval.hits, retrieval.n


def pick_samples(count: int, total: int, seed: int) -> list[int]:
    """`count` distinct example indices drawn with `seed`, in ascending order."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(total, size=min(count, total), replace=False).tolist())


def perplexity_differences(
    labels: list[str], scores: list[TeacherForced], models: list[Trained], seed: int
) -> list[Difference]:
    """ppl(b) - ppl(a) with a paired bootstrap interval for every pair of entries (a before b)
    of different models: two decodings of one checkpoint score the references alike."""
    pairs = [(a, b) for a, b in itertools.combinations(range(len(labels)), 2)
             if models[a] is not models[b]]
    if not pairs:
        return []
    intervals = perplexity_difference_intervals(
        np.stack([s.nll_sum for s in scores]), np.stack([s.n_tokens for s in scores]), pairs,
        RESAMPLES, seed,
    )
    return [Difference(labels[a], labels[b], interval)
            for (a, b), interval in zip(pairs, intervals, strict=True)]


def side_by_side(examples: Examples, replies: list[list[str]], shown: list[int]) -> list[Sample]:
    """The prompts `shown` with their references and every run's reply (replies[run][i])."""
    return [
        Sample(i, examples.prompts[i],
               None if examples.references is None else examples.references[i],
               [texts[i] for texts in replies])
        for i in shown
    ]


def load_entries(options: Options) -> tuple[list[Trained], list[str], list[Group]]:
    """Every run to score (the single runs, then each group's), their labels, and the entries
    of the comparison: one group per single run (named by its label) and per --group."""
    paths = [*options.runs, *(path for _, group in options.groups for path in group)]
    trained = [load_trained(path, options.device) for path in paths]
    labels = run_labels(trained)
    groups = [Group(labels[i], (i,)) for i in range(len(options.runs))]
    start = len(options.runs)
    for name, group in options.groups:
        members = tuple(range(start, start + len(group)))
        check_seeds_only([trained[i] for i in members], [labels[i] for i in members], name)
        groups.append(Group(name, members))
        start += len(group)
    names = [group.name for group in groups]
    if len(set(names)) < len(names):
        raise UserError(f"two entries are named alike ({', '.join(names)}): rename a --group")
    return trained, labels, groups


def group_differences(
    groups: list[Group], scores: list[TeacherForced], replies: list[list[str]], seed: int
) -> list[GroupDifference]:
    """Token perplexity and most-frequent-reply-share differences between entries, with
    intervals over seeds and examples (`seq2seq.comparison.groups`)."""
    n = len(replies[0])
    found = hierarchical_intervals(top1_statistic(replies), groups, n, "top1_share", seed=seed)
    if scores and scores[0] is not None:
        ppl = perplexity_statistic(np.stack([s.nll_sum for s in scores]),
                                   np.stack([s.n_tokens for s in scores]))
        found = hierarchical_intervals(ppl, groups, n, "token_ppl", seed=seed) + found
    return found


def compare(options: Options, out_dir: Path) -> tuple[Comparison, dict[str, list[AttentionImage]]]:
    """Evaluate every run on the same examples.

    Returns:
        The comparison and each run's attention heat-maps (already saved as PNGs under
        out_dir/attention), by run label.
    """
    if len(options.runs) + len(options.groups) < 2 and len(options.decodes) < 2:
        raise UserError("compare needs at least two runs (run folders or .pt checkpoints) or "
                        "--group entries, or one run and two --decode settings")
    if options.groups and options.decodes:
        raise UserError("--group and --decode do not combine: compare seed groups under one "
                        "decoding, or one run under several")
    trained, labels, groups = load_entries(options)
    check_same_tokenizer(trained, labels)
    scorers = load_scorers(options, trained)
    entries = decoded_runs(options, trained, labels, scorers)
    examples = load_examples(options, trained, labels)
    distractors, ranked = examples_distractors(examples, options)
    if distractors is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_distractors(out_dir / DISTRACTORS_FILE, examples.prompts, examples.references,
                          examples.references, distractors)
    evaluated = [evaluate_run(run, label, examples, options, decoding, distractors, scorers)
                 for run, label, decoding in entries]
    results, replies, scores = (list(column) for column in zip(*evaluated, strict=True))
    time_more_passes(entries, results, examples, options, scorers)
    if options.evaluator is not None:
        judge_retrieval(options, results, examples, replies)
    labels = [label for _, label, _ in entries]
    differences = []
    if examples.tgt is not None:
        differences = perplexity_differences(labels, scores, [run for run, _, _ in entries],
                                             options.seed)
    # Every prompt of a --prompts file is shown; a data split is sampled.
    count = len(examples.src) if examples.tgt is None else options.samples
    shown = pick_samples(count, len(examples.src), options.seed)
    # MMI and reranked replies have no attention of their own to draw: plain decodings only
    images = {
        label: attention_images(
            run.model, run.tokenizer, examples.src, shown[: options.attention], decoding=decoding,
            label=label, out_dir=out_dir / "attention", per_head=options.attention_heads,
        ) if decoding.config.mmi == "none" and not decoding.config.reranks() else []
        for run, label, decoding in entries
    }
    first = entries[0][2].config
    setup = {
        "runs": ", ".join(f"{label} ({run.path})" for run, label, _ in entries),
        "examples": f"{len(examples.src)} ({examples.description})",
        "decoding": "; ".join(f"{label}: {describe(decoding.config)}"
                              for _, label, decoding in entries) if options.decodes
        else f"{first.strategy}, at most {first.max_len} tokens, batches of {options.batch_size}",
        "device": options.device,
        "threads": torch.get_num_threads(),
        "speed": f"replies/s is the median of {options.speed_passes} timed passes per run "
        "and decoding, taking turns",
        "seed": options.seed,
        **({"extra models": ", ".join(f"{FLAGS[role]} {path}"
                                      for role, path in options.extras.items())}
           if options.extras else {}),
        **({"evaluator": f"{options.evaluator}: prompt retrieval@1/{CANDIDATES}, PMI"}
           if options.evaluator else {}),
    }
    setup["candidates"] = ranked
    rows = [reply_stats(label, texts) for label, texts in zip(labels, replies, strict=True)]
    if examples.references is not None and examples.train_texts is not None:
        rows += reference_rows(examples.references, examples.train_texts, options.seed)
    comparison = Comparison(results, side_by_side(examples, replies, shown), differences, setup,
                            rows)
    if options.groups:
        comparison.groups = summarize(groups, trained, results, comparison.metrics())
        comparison.group_differences = group_differences(groups, scores, replies, options.seed)
    return comparison, images

"""Print corpus and split statistics: `python -m seq2seq.data --corpus PATH [--config FILE]`.

Builds (or loads from the cache) exactly what training would use, then reports what was read,
what was dropped and why (the entropy filter's most frequent dropped utterances too), the split
sizes, the token lengths, and how many training pairs each entropy threshold would drop.
"""

from __future__ import annotations

import argparse
from typing import Any

from seq2seq.config import DataConfig, apply_overrides, build_section, load_config
from seq2seq.data.corpus import resolve_corpus
from seq2seq.data.entropy import filter_summary, threshold_table
from seq2seq.data.prepare import PreparedData, prepare_data
from seq2seq.data.splits import SPLITS, split_warnings
from seq2seq.errors import ConfigError, run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m seq2seq.data", description="Statistics of the prepared Cornell data."
    )
    parser.add_argument(
        "--corpus",
        help="raw-format folder or prompt<TAB>reply file "
        "(default: $CORNELL_CORPUS, else corpora/cornell/, downloaded when missing)",
    )
    parser.add_argument(
        "--config", help="YAML config whose data section to use (default: defaults)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override"
    )
    parser.add_argument("--cache-dir", help="default: $SEQ2SEQ_CACHE, else .cache/seq2seq")
    return parser.parse_args(argv)


def data_config(config_path: str | None, overrides: list[str]) -> DataConfig:
    """The data section of `--config` (all sections validated), or the defaults plus `--set`."""
    if config_path is not None:
        return load_config(config_path, overrides).data
    raw = apply_overrides({}, overrides)
    for section in raw:
        if section != "data":
            raise ConfigError(f"--set {section}.*: without --config only data.* keys apply here")
    config = build_section(DataConfig, raw.get("data"), "data")
    config.validate()
    return config


def table(title: str, rows: dict[str, Any]) -> list[str]:
    lines = [title]
    lines += [f"  {key:<42} {value:>9,}" for key, value in rows.items()] or ["  (none)"]
    return lines


def report(data: PreparedData) -> str:
    stats = data.stats
    unit = "movies" if stats["format"] == "raw" else "chains"
    lines = [f"corpus: {data.corpus} ({stats['format']})"]
    lines += table("read:", stats["corpus"])
    lines += table("skipped while reading:", stats["skipped"])
    lines += [f"examples before filtering: {stats['examples_before_filtering']:,}"]
    lines += table("dropped:", stats["dropped"])
    summary = filter_summary(stats["entropy_filter"])
    lines += [summary] if summary else []
    lines += [f"splits (by {unit.rstrip('s')}):  examples  {unit:>8}  response also in train"]
    for name in SPLITS:
        twins = stats["duplicate_responses"].get(name)
        lines.append(
            f"  {name:<5} {stats['examples'][name]:>18,}  {stats['groups'][name]:>8,}  "
            + (f"{twins:>22,}" if twins is not None else f"{'':>22}")
        )
    # The split is made before the filters: a group whose examples were all dropped still
    # counts, so a split can list more chains than examples.
    lines.append(f"  examples: those the filters above kept; {unit}: every one the split was "
                 "given, before the filters")
    lines.append("tokens (before the length filters):   p50    p90    p99    max")
    for side in ("context", "response"):
        values = stats["lengths"][side]
        lines.append(
            f"  {side:<34}" + "".join(f"{values[key]:>7}" for key in ("p50", "p90", "p99", "max"))
        )
    lines += threshold_table(stats["entropy_filter"])
    tok = stats["tokenizer"]
    lines.append(
        f"tokenizer: {tok['type']}, {tok['vocab_size']:,} pieces "
        f"(asked for {tok['requested_vocab_size']:,}), normalize={tok['normalize']}, "
        f"fingerprint {tok['fingerprint'][:12]}"
    )
    lines.append(f"cache key {data.key[:24]} ({'loaded' if data.cached else 'built'})")
    lines += split_warnings(stats)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = data_config(args.config, args.set)
    corpus = resolve_corpus(args.corpus)
    print(report(prepare_data(config, corpus, cache_dir=args.cache_dir)))
    return 0


if __name__ == "__main__":
    run_cli(main)

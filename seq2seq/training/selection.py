"""Which checkpoint a run offers, and which snapshots it keeps along the way.

Validation loss alone selects the most generic model a dialogue run ever had: the loss of a
chatbot bottoms out early, while its greedy replies keep getting more specific long after
(Csáky et al., 2019: 116 distinct replies to 21,854 prompts at the minimum, thousands later).
So a run can keep weights-only snapshots spread over its whole length (`train.keep_checkpoints`)
and select its checkpoint by one of two rules (`train.select`):

    loss      the lowest validation loss (best.pt; the default, as before)
    diverse   among validations whose perplexity is within `train.select_margin` of the best
              perplexity so far (ppl <= (1 + margin) * best ppl), the one whose greedy replies
              to the fixed diversity prompts hold the most distinct bigrams (selected.pt)

Why distinct bigrams and not distinct-2, their share of all bigrams: the share rewards short
replies. On the CPU protocol the GRU's replies at step 1,505 ("what?" to 63% of the prompts,
1.5 words on average) had 242 bigrams and distinct-2 0.054, those at step 1,400 (20% "what?",
3.2 words) 1,079 bigrams and distinct-2 0.021: the share prefers the more generic model, the
count (13 against 23 distinct bigrams) does not. The count grows with both variety and length,
and degenerate repetitions ("a a a a") add nothing to it.

The rule is applied online, at every validation, so the selected file always exists: a
validation becomes the selected one when it is within the margin and beats the selected
count, or when the selected one has fallen out of the margin because the best loss
improved (the new best is then always within it). `select_step` replays the same rule over
a run's logged validations. Early stopping watches the same rule: a validation that does not
change the selected checkpoint counts against `train.patience`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

SCORE = "distinct_bigrams"  # the diversity the "diverse" rule maximises (a valid/* key)


def within_margin(loss: float, best_loss: float, margin: float) -> bool:
    """Whether perplexity exp(loss) is at most (1 + margin) times exp(best_loss)."""
    return loss <= best_loss + math.log1p(margin)


@dataclass
class Selection:
    """The online state of the selection rule (saved in checkpoints, so resume continues it)."""

    rule: str  # one of config.SELECTIONS
    margin: float
    best_loss: float = math.inf
    step: int = -1  # the selected validation's step; -1 before the first
    loss: float = math.inf  # its validation loss
    score: float = -math.inf  # its SCORE

    def update(self, step: int, metrics: dict[str, float]) -> tuple[bool, bool]:
        """Take one validation's metrics into account.

        Returns:
            (is it the best loss so far, is it now the selected checkpoint).
        """
        loss = metrics["loss"]
        best = loss < self.best_loss
        if best:
            self.best_loss = loss
        if self.rule == "loss":
            selected = best
        else:
            score = metrics.get(SCORE, -math.inf)
            current_ok = self.step >= 0 and within_margin(self.loss, self.best_loss, self.margin)
            selected = within_margin(loss, self.best_loss, self.margin) and (
                not current_ok or score > self.score
            )
        if selected:
            self.step, self.loss = step, loss
            self.score = metrics.get(SCORE, -math.inf)
        return best, selected

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Selection:
        return cls(**values)


def select_step(records: list[dict[str, float]], rule: str, margin: float) -> int:
    """The step the rule selects after a run's validations (dicts with step, loss and SCORE),
    in the order they happened; -1 when there are none."""
    selection = Selection(rule, margin)
    for record in records:
        selection.update(int(record["step"]), record)
    return selection.step


def thin(steps: list[int], keep: int) -> list[int]:
    """Which snapshots to delete so that at most `keep` remain, spread over the run.

    The first and the latest always stay; while there are too many, the interior snapshot
    whose neighbours are closest together goes (the earliest such on a tie), so the kept
    ones stay roughly evenly spaced however long the run gets.

    Args:
        steps: the snapshots' steps, any order; keep: at most this many remain (>= 2).

    Returns:
        The steps to delete.
    """
    kept = sorted(steps)
    removed: list[int] = []
    while len(kept) > keep:
        gaps = [kept[i + 1] - kept[i - 1] for i in range(1, len(kept) - 1)]
        index = 1 + gaps.index(min(gaps))
        removed.append(kept.pop(index))
    return removed

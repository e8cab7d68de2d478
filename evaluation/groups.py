"""Which clips belong together (cut from one source video, one camera, one day): splits keep each
group on one side, or a score measures memory of a scene rather than recognition of an event.

Two ways to say it, for any data set:
- a group file: a heading line starts a group (a source video's address, a camera's name); each
  following `STEM: anything` line, STEM being a clip's file name without its suffix, puts that
  clip in it (the `sources.txt` format of the real-fights clips);
- a pattern: a regular expression searched in each clip's file stem; its first group (or the
  whole match) names the clip's group, e.g. `^(cam\\d+)_` for `cam3_0412.mp4`.
A clip that neither names is a group of its own, and is counted in a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.dataset import Clip, DatasetError

logger = logging.getLogger(__name__)

CLIP_LINE = re.compile(r"^(?P<stem>[^\s:]+):(?:\s|$)")


def read_group_file(path: str | Path) -> dict[str, str]:
    """{clip stem: group heading} from a group file; DatasetError naming the file when unusable."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the group file ({err.strerror or err})") from None
    groups, heading = {}, None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = CLIP_LINE.match(line)
        if match and not line.lower().startswith(("http:", "https:")):
            if heading is None:
                raise DatasetError(f"{path}:{number}: clip {match['stem']!r} before any group heading")
            groups[match["stem"]] = heading
        else:
            heading = line
    if not groups:
        raise DatasetError(f"{path}: no 'STEM: ...' clip lines under a heading")
    return groups


def pattern_groups(clips: Sequence[Clip], pattern: str) -> dict[str, str]:
    """{clip stem: group} from a regular expression searched in each stem."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise DatasetError(f"group pattern {pattern!r}: {err}") from None
    groups = {}
    for clip in clips:
        match = regex.search(clip.path.stem)
        if match:
            groups[clip.path.stem] = match.group(1) if regex.groups else match.group(0)
    return groups


def assign_groups(clips: Sequence[Clip], named: dict[str, str]) -> list[str]:
    """Each clip's group, in order; clips not named are groups of their own (warned, counted)."""
    groups, alone = [], []
    for clip in clips:
        stem = clip.path.stem
        if stem in named:
            groups.append(f"group:{named[stem]}")
        else:
            groups.append(f"clip:{clip.path}")
            alone.append(stem)
    if alone:
        logger.warning(
            "%d of %d clips belong to no group (each is its own): %s%s",
            len(alone),
            len(clips),
            ", ".join(alone[:5]),
            " ..." if len(alone) > 5 else "",
        )
    return groups


def group_folds(clips: Sequence[Clip], groups: list[str], folds: int, seed: int) -> list[list[int]]:
    """Clip indices of `folds` folds, whole groups each, balanced in size and in each class: the
    largest groups first, each to the fold where it leaves the classes least over their fair share
    (ties: fewest clips, then a seeded shuffle). A fold of one class could not say how well the
    classes are told apart."""
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    if folds < 2 or folds > len(members):
        raise DatasetError(f"folds: expected 2 to {len(members)} (the number of groups), got {folds}")
    labels = sorted({c.label for c in clips})
    share = {label: max(1, sum(c.label == label for c in clips)) / folds for label in labels}
    rng = np.random.default_rng(seed)
    names = list(members)
    rng.shuffle(names)
    names.sort(key=lambda g: -len(members[g]))
    out: list[list[int]] = [[] for _ in range(folds)]
    counts = [dict.fromkeys(labels, 0) for _ in range(folds)]
    for name in names:
        adds = {label: sum(clips[i].label == label for i in members[name]) for label in labels}

        best = min(
            range(folds),
            key=lambda f, adds=adds: (
                max((counts[f][label] + n) / share[label] for label, n in adds.items() if n),
                len(out[f]),
            ),
        )
        out[best].extend(members[name])
        for label, n in adds.items():
            counts[best][label] += n
    return [sorted(f) for f in out]


def split_by_group(
    clips: Sequence[Clip],
    groups: list[str],
    val_fraction: float,
    seed: int,
    fold: int | None = None,
    folds: int = 0,
    classes: Sequence[str] = (),
) -> tuple[list[Clip], list[Clip]]:
    """(train, validation) with no group on both sides: fold `fold` of `folds` as validation, or
    (folds 0) about val_fraction of the clips. Refuses a split that leaves a class out of a side."""
    if not folds:
        folds = max(2, int(round(1 / max(val_fraction, 1e-6))))
        fold = 0
    if fold is None or not 0 <= fold < folds:
        raise DatasetError(f"fold: expected 0 to {folds - 1}, got {fold}")
    val_index = set(group_folds(clips, groups, folds, seed)[fold])
    train = [c for i, c in enumerate(clips) if i not in val_index]
    val = [c for i, c in enumerate(clips) if i in val_index]
    labels = {c.label for c in clips}
    for side, name in ((train, "training"), (val, "validation")):
        missing = [classes[k] if k < len(classes) else k for k in sorted(labels - {c.label for c in side})]
        if missing:
            raise DatasetError(
                f"the {name} side of fold {fold} of {folds} has no clip of class(es) {missing}: "
                "too few groups for that many folds"
            )
    return train, val

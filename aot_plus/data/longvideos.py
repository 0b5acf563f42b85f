"""The long videos of AFB-URR (Liang et al., NeurIPS 2020), in the DAVIS layout that the official
``LONG_VIDEOS_Test`` of RMem's DAVIS/LVOS evaluator reads::

    JPEGImages/480p/<seq>/<frame>.jpg      every frame (thousands per video)
    Annotations/480p/<seq>/<frame>.png     sparse ground truth (the first frame and a few later ones)
    ImageSets/2017/<split>.txt             one sequence per line

As the official reader: single-object (every id above 0 is the object, id 1), only the first mask is
given to the model, every frame is predicted and written as ``<out>/<seq>/<frame>.png`` (the first one
as the binarised first mask), and the local scorer is ``--benchmark longvideos`` (the annotated frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .davis import davis_tasks
from .protocol import VideoTask
from .sequences import DEFAULT_GAP_RULE, GapRule

YEAR = 2017
RESOLUTION = "480p"
WEBSITE = "https://github.com/xmlyqing00/AFB-URR"


def longvideo_tasks(
    root: str | Path,
    split: str,
    names: Sequence[str] | None = None,
    *,
    gap_rule: GapRule = DEFAULT_GAP_RULE,
    allow_gaps: bool = False,
) -> list[VideoTask]:
    """The sequences of ``ImageSets/2017/<split>.txt`` in sorted order (or only ``names``)."""
    return davis_tasks(
        root,
        split,
        names,
        year=YEAR,
        resolution=RESOLUTION,
        single_object=True,
        gap_rule=gap_rule,
        allow_gaps=allow_gaps,
        what="the long videos",
        website=WEBSITE,
    )

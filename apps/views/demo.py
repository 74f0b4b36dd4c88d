"""Demo data: one view per gallery template (with the demo's score configs inline where they fit). No
project default: in review each trace gets the default view that fits its shape (chat, RAG, agent)."""

from __future__ import annotations

import copy

from .gallery import GALLERY
from .models import TraceView
from .services import trace_view_create

INLINE_SCORES = {
    "chat": ["helpfulness", "thumbs"],
    "rag": ["correctness"],
    "agent": ["correctness"],
    "classification": ["correctness"],
}


def load_demo_views(*, project, stdout=None, **_options) -> None:
    from apps.reviews.models import ScoreConfig

    existing = set(ScoreConfig.objects.filter(project=project).values_list("name", flat=True))
    created = []
    for template in GALLERY:
        if TraceView.objects.filter(project=project, name=template["name"]).exists():
            continue
        spec = copy.deepcopy(template["spec"])
        configs = [name for name in INLINE_SCORES.get(template["key"], []) if name in existing]
        if configs:
            spec["components"].append({"type": "score_controls", "title": "Your scores", "configs": configs})
        created.append(
            trace_view_create(project=project, name=template["name"], description=template["description"], spec=spec)
        )
    if stdout is not None:
        stdout.write(f"  trace views: {len(created)}")

"""Demo data: one view per gallery template, the chat view as the project's default."""

from __future__ import annotations

import copy

from .gallery import GALLERY
from .models import TraceView
from .services import trace_view_create, trace_view_default_set


def load_demo_views(*, project, stdout=None, **_options) -> None:
    created = []
    for template in GALLERY:
        if TraceView.objects.filter(project=project, name=template["name"]).exists():
            continue
        created.append(trace_view_create(project=project, name=template["name"],
                                         description=template["description"], spec=copy.deepcopy(template["spec"])))
    if created:
        trace_view_default_set(project=project, view=created[0])
    if stdout is not None:
        stdout.write(f"  trace views: {len(created)}")

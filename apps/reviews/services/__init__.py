"""Every write with rules on score configs and annotations, one module for each thing it changes.

The API, the feedback endpoint, the admin annotation panel, review queues and trace views all come
through here; callers import from the module that holds the function (no re-exports here).
"""

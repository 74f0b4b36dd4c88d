"""Worker processes fix glibc's mmap threshold, so an export's freed chunk buffers go back to the system."""

from __future__ import annotations

import ctypes.util
import platform

import pytest
from celery.signals import worker_init, worker_process_init

from apps.core.memory import worker_memory_setup

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or not ctypes.util.find_library("c"),
    reason="mallopt is glibc's",
)


@glibc
def test_the_threshold_is_set_in_a_worker_process(settings):
    settings.WORKER_MALLOC_MMAP_THRESHOLD = 1 << 20
    assert worker_memory_setup() is True


def test_zero_leaves_the_c_library_alone(settings):
    settings.WORKER_MALLOC_MMAP_THRESHOLD = 0
    assert worker_memory_setup() is False


def test_every_worker_process_sets_it():
    import config.celery  # noqa: F401  (connects the receivers)

    for signal in (worker_init, worker_process_init):
        assert any("_worker_memory" in repr(receiver) for _, receiver in signal.receivers), signal

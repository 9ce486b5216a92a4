"""Peak tensor memory of a piece of work, from the torch profiler (CPU allocator events)."""
from __future__ import annotations

from typing import Any, Callable


def profiled_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak of the live tensor memory (torch CPU allocator) that ``fn()`` adds, in bytes: the
    maximum running sum of ``self_cpu_memory_usage`` over profiler events in start-time order."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    cur = peak = 0
    for ev in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += ev.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak

"""One description of the machine a benchmark ran on, read from the machine itself (CPU model,
logical CPUs, memory, kernel, library versions, load average), for every RESULTS*.md."""
from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe(*, dask: bool = False) -> str:
    """``Intel(R) Xeon(R) Processor, 2 logical CPUs, 24 GiB, Linux 6.18, Python 3.11.7, numpy
    2.4.6, numba 0.68.1; load average 0.4`` (the load average of the last minute, when called)."""
    import numba
    import numpy as np

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    libs = f"numpy {np.__version__}, numba {numba.__version__}"
    if dask:
        import distributed
        libs += f", dask/distributed {distributed.__version__}"
    return (f"{cpu_model()}, {os.cpu_count()} logical CPUs, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, {libs}; load average "
            f"{os.getloadavg()[0]:.1f}")

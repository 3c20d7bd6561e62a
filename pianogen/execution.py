"""Execute one notebook with papermill: atomically, parameters as values, output to a log.

The one papermill wrapper of the package: the batch runs every artist's notebooks through
:func:`execute_notebook`, and the book its cross-artist chapters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
__all__ = [
    "INLINE_BACKEND",
    "LOGS_DIR",
    "declared_parameters",
    "error_line",
    "execute_notebook",
    "kernel_did_not_start",
    "machine_info",
    "share_cores",
    "vector_extensions",
]


def _format_escape(path: str) -> str:
    """papermill formats paths with the parameters (``str.format``): keep braces literal."""
    return path.replace("{", "{{").replace("}", "}}")


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
LOGS_DIR = "_logs"  # beside executed notebooks: one log file per notebook, what it printed
# Seconds a kernel may take to answer its first request, and how many times it is started
# before its notebook counts as failed. CI saw "Kernel didn't respond in 60 seconds"
# (papermill's default) for one of two kernels started at once from threads of one process,
# a race papermill's maintainers describe (nteract/papermill#239): a fresh kernel gets past
# it, and a start-up hiccup is not the notebook's error.
KERNEL_START_TIMEOUT = 120
KERNEL_START_TRIES = 3
_KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying")


def _kernel_manager_logging_to(handle: Any) -> type:
    """A kernel manager class whose kernels write their own stdout and stderr (TensorFlow's
    C++ start-up lines, absl, ipykernel's warnings) to ``handle`` instead of our terminal."""
    from jupyter_client import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["stdout"] = kw["stderr"] = handle
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


# TensorFlow's thread pools, read once when a kernel imports it (the kernel inherits them).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def share_cores(jobs: int, cores: int | None = None) -> dict[str, str]:
    """TensorFlow thread settings for kernels of ``jobs`` notebooks running at once: the
    cores divided between them (at least one thread each).

    By default every TensorFlow process sizes its pools to all cores. Measured on the 2-core
    machine, three quick-profile GRU trainings at once (haydn, 3 epochs of 5,000 windows):
    33 s an epoch each with one thread, 46 s with TensorFlow's default (``top`` showed a
    third of the CPU time in the system during such a batch), and the same test accuracy to
    the last digit either way (``benchmarks/bench_concurrency.py`` measures it)."""
    threads = max(1, (cores or available_cores()) // max(1, jobs))
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def kernel_did_not_start(exc: BaseException) -> bool:
    """Whether papermill failed because the kernel never started (not because of a cell)."""
    return type(exc) is RuntimeError and str(exc).startswith(_KERNEL_START_ERRORS)


def declared_parameters(notebook: Path) -> set[str]:
    """The names in a notebook's ``parameters`` cell (papermill's own reading of it)."""
    import papermill

    logging.getLogger("papermill").setLevel(logging.WARNING)  # not one INFO line per read
    return set(papermill.inspect_notebook(str(notebook)))


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    cwd: Path | None = None,
    log_path: Path | None = None,
) -> Path:
    """Execute ``notebook`` with papermill into ``output``, atomically.

    The notebook runs under a hidden temporary name beside ``output`` and is renamed over it
    only when every cell succeeded; on failure the partial notebook is left at the temporary
    name (returned in the exception's ``partial`` attribute) and ``output`` is untouched. The
    kernel starts in ``cwd`` (default: ``output``'s folder), set per kernel rather than with
    a process-wide ``chdir``, so notebooks run from threads cannot race on the working
    directory. With ``log_path``, everything the notebook prints (its cells' streams and the
    kernel process's own output) goes to that file instead of the terminal.
    """
    import papermill

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    # Kernels inherit our environment; a non-interactive MPLBACKEND (Agg, set by many CI
    # setups) would make every plt.show() in the book produce no figure at all.
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    with contextlib.ExitStack() as stack:
        logged: dict[str, Any] = {}
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(Path(log_path).open("w", encoding="utf-8"))
            logged = {"stdout_file": handle, "stderr_file": handle}
            logged["kernel_manager_class"] = _kernel_manager_logging_to(handle)
        for attempt in range(1, KERNEL_START_TRIES + 1):
            try:
                papermill.execute_notebook(
                    _format_escape(str(notebook)),
                    _format_escape(str(partial)),
                    parameters=parameters,
                    kernel_name="python3",
                    progress_bar=False,
                    log_output=False,
                    start_timeout=KERNEL_START_TIMEOUT,
                    resources={"metadata": {"path": str(cwd or output.parent)}},
                    **logged,
                )
                break
            except BaseException as exc:
                if kernel_did_not_start(exc) and attempt < KERNEL_START_TRIES:
                    note = f"{exc}: starting the kernel again (try {attempt + 1})"
                    log.warning("%s: %s", Path(notebook).name, note)
                    if logged:
                        logged["stderr_file"].write(f"\n{note}\n")
                    continue
                exc.partial = partial  # type: ignore[attr-defined]
                if logged:  # the failing cell's traceback, after what the notebook printed
                    logged["stderr_file"].write(f"\n{type(exc).__name__}: {exc}\n")
                raise
    partial.replace(output)
    return output


def error_line(exc: BaseException) -> str:
    """One line for the summary: papermill's ``ename: evalue``, else the exception's last line."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def vector_extensions(flags: set[str] | list[str]) -> str:
    """The widest x86 vector extensions among ``/proc/cpuinfo`` ``flags``: "AVX-512 (BF16)",
    "AVX-512", "AVX2", "AVX" or "" (none of them, or not x86).

    They set TensorFlow's CPU speed more than the processor's name does: on the 2-core
    machine an AVX-512 host multiplied float32 matrices at 293-383 GFLOP/s, an AVX2 host of
    the same name at 132-161 (the README's table of book times).
    """
    flags = set(flags)
    if "avx512f" in flags:
        return "AVX-512 (BF16)" if "avx512_bf16" in flags else "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "AVX" if "avx" in flags else ""


def machine_info() -> dict[str, Any]:
    """Where the notebooks ran: operating system, processor, its vector extensions
    (:func:`vector_extensions`), cores and the NVIDIA GPUs that ``nvidia-smi -L`` lists (an
    empty list without a GPU or its driver)."""
    gpus: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
        gpus = [line.split(" (UUID")[0] for line in listed.splitlines() if line.strip()]
    fields: dict[str, str] = {}  # the first processor's lines of /proc/cpuinfo
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    processor = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    return {
        "system": platform.platform(terse=True),
        "processor": processor,
        "vector": vector_extensions(flags),
        "cores": os.cpu_count(),
        "gpus": gpus,
    }

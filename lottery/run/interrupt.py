"""Ctrl-C in ``python -m lottery.run.reproduce``: noticed even where Python would swallow it,
the kernel's noise kept out of the terminal, and what it leaves behind marked.

A SIGINT that lands in a ``__del__`` (tqdm's, say) is printed as "Exception ignored" and
lost, and the estimate ran on; :class:`Interrupts` remembers every SIGINT so that
:meth:`Interrupts.check` raises it at the next step.

The kernel starts in a session of its own (jupyter_client), so Ctrl-C reaches only us; as we
stop, its sockets close under it and it logs a ZMQError traceback on the stderr it inherited.
:class:`LoggedKernelManager` sends that stderr (the kernel's own log, never a cell's output,
which comes back as messages) to a file beside the executed copy, so an interrupt reads as
the one line we print. A half-run executed copy is renamed by :func:`mark_incomplete`
(``NN_name.incomplete.ipynb``): papermill writes the copy as it goes, and left under its own
name it would look like a finished run.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

INCOMPLETE = ".incomplete.ipynb"


class Interrupts:
    """Remembers SIGINT: :meth:`watch` installs the handler (again after a notebook's event
    loop replaced it), :meth:`check` raises KeyboardInterrupt once one arrived,
    :meth:`restore` puts back the handler found first."""

    def __init__(self) -> None:
        self.seen = False
        self._original = signal.getsignal(signal.SIGINT)

    def watch(self) -> None:
        if threading.current_thread() is threading.main_thread():  # else signal() refuses
            signal.signal(signal.SIGINT, self._handle)

    def restore(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._original)

    def _handle(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt


class LoggedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel's stderr goes to ``stderr_log`` (appended)."""

    stderr_log = Unicode("", config=True, help="file the kernel's stderr goes to")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self.stderr_log:
            with open(self.stderr_log, "ab") as log:  # the child keeps its own descriptor
                kw.setdefault("stderr", log)
                await super()._async_launch_kernel(kernel_cmd, **kw)
        else:
            await super()._async_launch_kernel(kernel_cmd, **kw)

    _launch_kernel = _async_launch_kernel


class _KernelDeath(logging.Filter):
    """Drops nbclient's "Kernel died while waiting for execute reply" log line: the death is
    reported anyway (the notebook's failure, or Ctrl-C's one line, which stops the kernel)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Kernel died")


def quiet_kernel_death(logger: str = "papermill") -> None:
    """Install :class:`_KernelDeath` on ``logger`` (papermill's, which nbclient logs to)."""
    target = logging.getLogger(logger)
    if not any(isinstance(f, _KernelDeath) for f in target.filters):
        target.addFilter(_KernelDeath())


def incomplete_path(output: Path) -> Path:
    """Where the half-run copy of ``output`` (``NN_name.ipynb``) is kept."""
    return output.with_name(output.stem + INCOMPLETE)


def mark_incomplete(output: Path) -> Path | None:
    """Rename a half-run executed copy ``output`` to ``NN_name.incomplete.ipynb`` (replacing
    an older one); the new path, or None when papermill had not written it yet."""
    if not output.exists():
        return None
    target = incomplete_path(output)
    output.replace(target)
    return target

"""The Adam update as a small C kernel (``adam_kernel.c``), built once per machine, via ctypes.

The library is cached in the user cache directory (:func:`lottery.engine.data_cache.cache_dir`; with
caching off it is built in a temporary directory each process), named by a hash of the C
source, the compiler command and flags, the compiler's version and the machine (architecture
and CPU flags: it is built for this CPU), so a cached file is only ever loaded where it was
built for; it is written under a temporary name and renamed into place, so processes building
at once do not see each other's partial files, and the partial files of builds that were killed
are swept (:mod:`lottery.engine.temporaries`). The sha256 of the built file is recorded beside it
(``adam-<key>.so.sha256``) and checked before the library is opened: loading runs the file's
code, so a truncated or altered library (which would die of SIGBUS or SIGILL) is never loaded but
rebuilt, with one warning. A cached library that cannot be loaded or was built for another key
is rebuilt too. A new build must reproduce :mod:`lottery.engine.adam_emulation` on
a small check, else it is refused: a compiler that changes the arithmetic (fast-math defaults,
flushed subnormals) leaves the emulation running instead of changing results.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lottery.engine import adam_emulation, data_cache, temporaries

SOURCE = Path(__file__).with_name("adam_kernel.c")
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC")
# elements a thread gets at least: handing a piece to the pool costs ~10 us (measured), the
# kernel does 1 << 18 elements in 50-150 us
MIN_CHUNK = 1 << 18
_FLOAT_ARGS = 6  # weight, rest, decay, bias, eps, size (adam_emulation.constants)
# a build's partial library or hash file: .adam-<key>-<pid>-<random>.so / .sha256
_PARTIAL = re.compile(r"^\.adam-[0-9a-f]+-(\d+)-[0-9a-f]+\.(so|sha256)$")


class BuildError(Exception):
    """The kernel could not be built or loaded; the message says why, in one line."""


def compiler() -> list[str]:
    """The C compiler command: ``$CC``, else ``cc`` or ``gcc`` from the path."""
    chosen = os.environ.get("CC", "").strip()
    if chosen:
        return shlex.split(chosen)
    for name in ("cc", "gcc"):
        if shutil.which(name):
            return [name]
    raise BuildError("no C compiler found (neither cc nor gcc on the path; set $CC)")


def compiler_version(command: list[str]) -> str:
    """What ``command --version`` prints (BuildError where the compiler cannot run)."""
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"C compiler {shlex.join(command)!r} cannot run: {error}") from error
    if done.returncode:
        raise BuildError(f"C compiler {shlex.join(command)!r} cannot run: "
                         f"{first_line(done.stderr)}")
    return done.stdout


def machine() -> str:
    """The architecture and the CPU's flags line (where /proc/cpuinfo has one)."""
    flags = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        flags = next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    return f"{platform.machine()} {flags.strip()}"


def cache_key(source: str, command: list[str], version: str, machine_id: str) -> str:
    """The hash naming a library built from ``source`` by ``command`` on ``machine_id``."""
    text = "\0".join([source, shlex.join(command), shlex.join(FLAGS), version, machine_id])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def first_line(text: str) -> str:
    """A compiler's error in one line: its first line naming an error, else its first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if "error:" in line), lines[0] if lines else "")


def load(directory: Path | None = None) -> Kernel:
    """The kernel for this machine, from ``directory`` (default: the user cache) where it was
    built before, else built there now (BuildError where it cannot be)."""
    command = compiler()
    key = cache_key(SOURCE.read_text(), command, compiler_version(command), machine())
    directory = directory if directory is not None else data_cache.cache_dir()
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="lottery-adam-") as scratch:
            return build(Path(scratch) / "adam.so", key, command)  # loaded stays mapped
    path = Path(directory) / f"adam-{key}.so"
    temporaries.sweep(path.parent, _PARTIAL)
    kernel = open_library(path, key) if path.exists() and verified(path) else None
    return kernel if kernel is not None else build(path, key, command)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hash_file(path: Path) -> Path:
    """Where the sha256 of library ``path``, recorded when it was built, is kept."""
    return path.with_name(path.name + ".sha256")


def verified(path: Path) -> bool:
    """Whether ``path`` is the file that was built (its sha256 as recorded); says in one line
    why not, where it is not (it is then rebuilt)."""
    try:
        recorded = hash_file(path).read_text().strip()
    except OSError:
        recorded = ""
    try:
        ok = recorded == digest(path)
    except OSError:
        ok = False
    if not ok:
        why = "does not match the sha256 recorded when it was built" if recorded else \
            "has no recorded sha256"
        print(f"adam kernel: the cached library {path} {why} (damaged or replaced); "
              f"rebuilding it", file=sys.stderr, flush=True)
    return ok


def open_library(path: Path, key: str) -> Kernel | None:
    """The kernel in ``path``; None where it cannot be loaded or was built for another key."""
    try:
        library = ctypes.CDLL(str(path))
        library.lottery_adam_key.restype = ctypes.c_char_p
        built_for = library.lottery_adam_key().decode()
    except (OSError, AttributeError, UnicodeDecodeError):
        return None
    return Kernel(library) if built_for == key else None


def build(path: Path, key: str, command: list[str]) -> Kernel:
    """Compile the kernel into ``path`` (atomically) and load it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create {path.parent}: {error}") from error
    partial = path.with_name(f".{path.stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}.so")
    recorded = partial.with_suffix(".sha256")
    try:
        done = subprocess.run([*command, *FLAGS, f'-DLOTTERY_ADAM_KEY="{key}"', "-o",
                               str(partial), str(SOURCE)], capture_output=True, text=True,
                              timeout=300)
        if done.returncode:
            raise BuildError(f"{shlex.join(command)} failed: {first_line(done.stderr)}")
        kernel = open_library(partial, key)  # under its own name: a fresh load, not a reuse
        if kernel is None:
            raise BuildError(f"the library {shlex.join(command)} built cannot be loaded")
        if not kernel.agrees_with_emulation():
            raise BuildError(f"the kernel {shlex.join(command)} built rounds differently from "
                             "its specification (fast-math or flushed subnormals?)")
        recorded.write_text(digest(partial) + "\n")
        os.replace(recorded, hash_file(path))  # the hash first: a library is never unverified
        os.replace(partial, path)
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"building with {shlex.join(command)} failed: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
        recorded.unlink(missing_ok=True)
    return kernel


class Kernel:
    """The loaded kernel: the Adam update of float32 CPU tensors, split over threads."""

    def __init__(self, library: ctypes.CDLL):
        self._function = library.lottery_adam_f32
        self._function.argtypes = ([ctypes.c_void_p] * 4 + [ctypes.c_size_t]
                                   + [ctypes.c_float] * _FLOAT_ARGS)
        self._function.restype = None

    def update(self, flat: list[list[Tensor]], step_size: float, bias2_sqrt: float,
               beta1: float, beta2: float, eps: float, threads: int = 1) -> None:
        """The Adam update of each ``[param, grad, exp_avg, exp_avg_sq]`` set (contiguous
        float32 CPU tensors of one size), in place, on up to ``threads`` threads."""
        constants = [float(c) for c in adam_emulation.constants(step_size, bias2_sqrt, beta1,
                                                                 beta2, eps)]
        bases = [pointers(tensors) for tensors in flat]
        sizes = [tensors[0].numel() for tensors in flat]
        parts = split(sizes, max(1, min(threads, sum(sizes) // MIN_CHUNK)))
        if len(parts) == 1:
            self._run(bases, parts[0], constants)
            return
        pending = [pool(len(parts) - 1).submit(self._run, bases, runs, constants)
                   for runs in parts[1:]]
        self._run(bases, parts[0], constants)
        for future in pending:
            future.result()

    def _run(self, bases: list[tuple[int, ...]], runs: list[tuple[int, int, int]],
             constants: list[float]) -> None:
        for index, start, stop in runs:
            offset = start * 4  # bytes of a float32
            self._function(*(base + offset for base in bases[index]), stop - start, *constants)

    def agrees_with_emulation(self) -> bool:
        """Whether two steps on awkward values (zeros, subnormals, 40 orders of magnitude)
        give the emulation's bits."""
        rng = np.random.default_rng(0)

        def values(n: int = 1024) -> Tensor:
            x = rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 8)
            x[::7], x[3::11] = 0.0, 1e-40
            return torch.from_numpy(x.astype(np.float32))

        ours = [values(), values(), values() * 1e-2, values().abs() * 1e-3]
        theirs = [t.clone() for t in ours]
        for step in (1, 2):
            scalars = (1e-3 / (1 - 0.9 ** step), (1 - 0.999 ** step) ** 0.5, 0.9, 0.999, 1e-8)
            self.update([ours], *scalars)
            adam_emulation.update([theirs], *scalars)
        return all(torch.equal(a.view(torch.int32), b.view(torch.int32))
                   for a, b in zip(ours, theirs, strict=True))


def pointers(tensors: list[Tensor]) -> tuple[int, ...]:
    """The data addresses of one set, checked first: the kernel writes raw memory."""
    n = tensors[0].numel()
    for t in tensors:
        if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous() \
                or t.numel() != n:
            raise ValueError("the C Adam kernel takes contiguous float32 CPU tensors of one "
                             "size")
    return tuple(t.data_ptr() for t in tensors)


def split(sizes: list[int], parts: int) -> list[list[tuple[int, int, int]]]:
    """The concatenation of tensors of ``sizes`` cut into ``parts`` contiguous pieces of nearly
    equal length, each a list of ``(tensor, start, stop)`` runs."""
    total = sum(sizes)
    cuts = [total * i // parts for i in range(parts + 1)]
    pieces = []
    for low, high in pairwise(cuts):
        runs, offset = [], 0
        for index, size in enumerate(sizes):
            start, stop = max(low - offset, 0), min(high - offset, size)
            if start < stop:
                runs.append((index, start, stop))
            offset += size
        pieces.append(runs)
    return pieces


_pool: ThreadPoolExecutor | None = None
_pool_owner: tuple[int, int] = (0, 0)  # (process id, workers) of _pool


def pool(workers: int) -> ThreadPoolExecutor:
    """A persistent pool of at least ``workers`` threads (a new one in a forked child, whose
    copy of the parent's pool has no threads behind it)."""
    global _pool, _pool_owner
    pid, have = _pool_owner
    if _pool is None or pid != os.getpid() or have < workers:
        if _pool is not None and pid == os.getpid():
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="lottery-adam")
        _pool_owner = (os.getpid(), workers)
    return _pool

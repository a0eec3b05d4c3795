"""The C Adam kernel gives its numpy specification's bits, split or not, and is built once."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_adam_emulation import exact_fma32

from lottery.engine import adam_emulation, adam_kernel, optimizers

pytestmark = pytest.mark.usefixtures("one_thread")
# the kernel is built with the system's C compiler; without one the update runs the emulation
# (the last test), and the tests that build a kernel have nothing to build with
needs_cc = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")),
                              reason="no C compiler on this machine")
SCALARS = (1e-3 / (1 - 0.9), math.sqrt(1 - 0.999), 0.9, 0.999, 1e-8)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> adam_kernel.Kernel:
    return adam_kernel.load(tmp_path_factory.mktemp("kernel-cache"))


def adversarial(n: int, generator: torch.Generator) -> torch.Tensor:
    """Values over 40 orders of magnitude, with exact zeros and subnormals among them."""
    x = torch.randn(n, generator=generator) * torch.exp(torch.randn(n, generator=generator) * 8)
    x[::7], x[3::11] = 0.0, 1e-40
    return x


def moments(sizes, generator) -> list[list[torch.Tensor]]:
    """(param, exp_avg, exp_avg_sq) per size; exp_avg_sq down to subnormals and zeros."""
    return [[adversarial(n, generator), adversarial(n, generator) * 1e-2,
             adversarial(n, generator).abs() * 1e-3] for n in sizes]


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.view(torch.int32), b.view(torch.int32))


@needs_cc
def test_kernel_gives_the_emulations_bits_step_after_step(kernel):
    generator = torch.Generator().manual_seed(0)
    sizes = (40_000, 301, 15, 1)  # vector bodies and tails of every length class
    ours = moments(sizes, generator)
    spec = [[t.clone() for t in tensors] for tensors in ours]
    for step in range(1, 16):
        grads = [adversarial(n, generator) for n in sizes]
        scalars = (1e-3 / (1 - 0.9 ** step), math.sqrt(1 - 0.999 ** step), 0.9, 0.999, 1e-8)
        kernel.update([[p, g.clone(), m, v] for (p, m, v), g in zip(ours, grads, strict=True)],
                      *scalars)
        adam_emulation.update([[p, g, m, v] for (p, m, v), g in zip(spec, grads, strict=True)],
                              *scalars)
        for mine, theirs in zip(ours, spec, strict=True):
            assert all(same_bits(a, b) for a, b in zip(mine, theirs, strict=True)), step
    assert torch.count_nonzero(ours[0][2] == 0) > 0  # zero moments survived to the end


@needs_cc
def test_kernel_rounds_the_fma_once_at_float32_midpoints(kernel):
    # g * g = 1 + 2^-22 and rest = (1 - 2^-22) 2^-24 make the product 2^-24 - 2^-68: with an
    # addend of 1 + 2^-23 the exact sum lies just below a float32 midpoint, which rounding
    # through float64 would land on and tie upwards; scaled by powers of four (subnormal too)
    rest = (1 - 2.0 ** -22) * 2.0 ** -24
    beta2 = 1 - rest  # exact, and 1 - beta2 gives rest back
    decay = np.float32(beta2)
    scales = 4.0 ** np.arange(-69, 60, 3)
    g = np.float32(1 + 2.0 ** -23) * np.sqrt(scales).astype(np.float32)
    addend = (np.float32(1 + 2.0 ** -23) * scales.astype(np.float32)).astype(np.float32)
    v = (addend / decay).astype(np.float32)  # exp_avg_sq whose v * decay is near the addend
    want = [exact_fma32(float(a), float(np.float32(rest)), float(c)) for a, c in
            zip(g * g, v * decay, strict=True)]
    tensors = [torch.ones(len(g)), torch.from_numpy(g), torch.zeros(len(g)), torch.tensor(v)]
    spec = [t.clone() for t in tensors]
    scalars = (1e-3, 1.0, 0.9, beta2, 1e-8)
    kernel.update([tensors], *scalars)
    adam_emulation.update([spec], *scalars)
    assert np.array_equal(tensors[3].numpy(), np.array(want, np.float32))
    assert all(same_bits(a, b) for a, b in zip(tensors, spec, strict=True))
    one = list(scales).index(1.0)
    assert (g * g)[one] == np.float32(1 + 2.0 ** -22) and (v * decay)[one] == addend[one]
    assert tensors[3][one] == np.float32(1 + 2.0 ** -23)  # not the tie's 1 + 2^-22


def test_split_covers_every_element_once_in_order():
    sizes = [7, 0, 100, 1, 33]
    for parts in (1, 2, 3, 7, 141):
        pieces = adam_kernel.split(sizes, parts)
        covered = [(i, j) for runs in pieces for i, lo, hi in runs for j in range(lo, hi)]
        assert covered == [(i, j) for i, n in enumerate(sizes) for j in range(n)]
        lengths = [sum(hi - lo for _, lo, hi in runs) for runs in pieces]
        assert len(pieces) == parts and max(lengths) - min(lengths) <= 1


@needs_cc
def test_threaded_update_gives_the_single_call_bits(kernel, monkeypatch):
    monkeypatch.setattr(adam_kernel, "MIN_CHUNK", 64)  # split even these small tensors
    asked, original = [], adam_kernel.pool

    def counting(workers: int):
        asked.append(workers)
        return original(workers)
    monkeypatch.setattr(adam_kernel, "pool", counting)
    generator = torch.Generator().manual_seed(1)
    sizes = (5_003, 64, 1, 777)
    alone = moments(sizes, generator)
    split = [[t.clone() for t in tensors] for tensors in alone]
    for _ in range(3):
        grads = [adversarial(n, generator) for n in sizes]
        kernel.update([[p, g, m, v] for (p, m, v), g in zip(alone, grads, strict=True)],
                      *SCALARS, threads=1)
        kernel.update([[p, g, m, v] for (p, m, v), g in zip(split, grads, strict=True)],
                      *SCALARS, threads=4)
    for mine, theirs in zip(split, alone, strict=True):
        assert all(same_bits(a, b) for a, b in zip(mine, theirs, strict=True))
    assert asked and set(asked) == {3}  # three pieces went to the pool, one ran here


@needs_cc
def test_kernel_refuses_tensors_it_would_misread(kernel):
    sets = [[torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.zeros(5)],
            [torch.zeros(4, dtype=torch.float64)] * 4, [torch.zeros(4, 2).t()] * 4]
    for tensors in sets:
        with pytest.raises(ValueError, match="contiguous float32"):
            kernel.update([tensors], *SCALARS)


def library(directory: Path) -> Path:
    [path] = directory.glob("adam-*.so")
    return path


@needs_cc
def test_a_second_load_reuses_the_cached_library(tmp_path, monkeypatch):
    adam_kernel.load(tmp_path)
    before = library(tmp_path).stat()

    def no_build(*args):
        raise AssertionError("rebuilt")
    monkeypatch.setattr(adam_kernel, "build", no_build)
    adam_kernel.load(tmp_path)
    after = library(tmp_path).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    name = library(tmp_path).name  # no leftovers: the library and its recorded hash
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, name + ".sha256"]


@needs_cc
def test_a_corrupt_cached_library_is_rebuilt(tmp_path):
    adam_kernel.load(tmp_path)
    path = library(tmp_path)
    path.unlink()  # a new file, not the one this process has loaded
    path.write_bytes(b"not a shared library")
    kernel = adam_kernel.load(tmp_path)
    assert path.read_bytes()[:4] == b"\x7fELF"
    assert kernel.agrees_with_emulation()


@needs_cc
def test_a_library_built_for_another_key_is_rebuilt(tmp_path, monkeypatch):
    adam_kernel.load(tmp_path)
    theirs = library(tmp_path)
    monkeypatch.setattr(adam_kernel, "cache_key", lambda *args: "another")
    shutil.copy(theirs, tmp_path / "adam-another.so")  # a loadable file, built for theirs
    kernel = adam_kernel.load(tmp_path)
    # (read from the file: this process's dlopen would hand back the copy it loaded by name)
    assert b"another" in (tmp_path / "adam-another.so").read_bytes()
    assert b"another" not in theirs.read_bytes() and kernel.agrees_with_emulation()


@needs_cc
def test_the_cache_key_names_source_compiler_and_machine():
    parts = ("int x;", ["cc"], "gcc 12", "x86_64 fma avx2")
    key = adam_kernel.cache_key(*parts)
    assert key == adam_kernel.cache_key(*parts)
    for i, other in enumerate(("int y;", ["clang"], "gcc 13", "x86_64 avx2")):
        changed = list(parts)
        changed[i] = other
        assert adam_kernel.cache_key(*changed) != key


def edited_source(tmp_path: Path, monkeypatch, old: str, new: str) -> None:
    source = adam_kernel.SOURCE.read_text()
    assert old in source
    (tmp_path / "edited.c").write_text(source.replace(old, new))
    monkeypatch.setattr(adam_kernel, "SOURCE", tmp_path / "edited.c")


@needs_cc
def test_a_kernel_rounding_differently_is_refused(tmp_path, monkeypatch):
    # the unfused multiply-add rounds twice: the load-time check against the emulation fails
    edited_source(tmp_path, monkeypatch, "fmaf(grad * grad, rest, v[i] * decay)",
                  "grad * grad * rest + v[i] * decay")
    with pytest.raises(adam_kernel.BuildError, match="rounds differently"):
        adam_kernel.load(tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())  # nothing cached, no partial file left


@needs_cc
def test_a_compile_error_is_reported_in_one_line(tmp_path, monkeypatch):
    edited_source(tmp_path, monkeypatch, "float moment =", "float moment = undeclared +")
    with pytest.raises(adam_kernel.BuildError, match="undeclared") as raised:
        adam_kernel.load(tmp_path / "cache")
    assert "\n" not in str(raised.value)


def adam_steps(steps: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in [(3, 50), (3,)]]
    optimizer = optimizers.Adam(params, lr=1e-2, weight_decay=1e-3, compiled=True)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
    return [p.detach().clone() for p in params]


def fresh_process(monkeypatch) -> None:
    """The optimizers module as in a new process: no kernel loaded yet."""
    monkeypatch.setattr(optimizers, "_kernel", None)
    monkeypatch.setattr(optimizers, "_kernel_failed", False)


def test_without_a_compiler_one_warning_and_the_emulation_gives_the_same_numbers(
        tmp_path, monkeypatch):
    fresh_process(monkeypatch)
    with_kernel = adam_steps()
    assert optimizers._kernel is not None
    fresh_process(monkeypatch)
    monkeypatch.setenv("CC", "/nonexistent")
    monkeypatch.setenv("LOTTERY_CACHE", str(tmp_path))  # empty: nothing built before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        without = adam_steps() + adam_steps()
    assert [str(w.message).split(";")[0] for w in caught] == [
        "the C Adam kernel cannot be built (C compiler '/nonexistent' cannot run: [Errno 2] "
        "No such file or directory: '/nonexistent')"]
    assert optimizers._kernel is None and optimizers._kernel_failed
    assert all(torch.equal(a, b) for a, b in zip(with_kernel * 2, without, strict=True))


# --- issue 30: a cached library is verified before it is loaded (classes 2 and 3) -------------
# a fresh process loads the cache and takes two steps: what a run does; a bad library kills it
_STEP_IN_A_FRESH_PROCESS = """
import sys, torch
from lottery.engine import adam_kernel
kernel = adam_kernel.load(sys.argv[1])
print("agrees" if kernel.agrees_with_emulation() else "differs")
"""


def step_in_a_fresh_process(cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _STEP_IN_A_FRESH_PROCESS, str(cache)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@needs_cc
@pytest.mark.parametrize("damage", ["truncated", "altered code"])
def test_a_damaged_cached_library_is_rebuilt_not_run(tmp_path, damage):
    # built by another process: this one must not have the file mapped when it is damaged in
    # place (its own mapping would take the SIGBUS)
    assert step_in_a_fresh_process(tmp_path).stdout.strip() == "agrees"
    path = library(tmp_path)
    built = path.read_bytes()
    if damage == "truncated":  # in place: the same file, as a full disk or a kill leaves it
        with open(path, "r+b") as file:
            file.truncate(len(built) // 2)
    else:  # every byte after the headers inverted, the size kept
        with open(path, "r+b") as file:
            file.seek(4096)
            file.write(bytes(b ^ 0xFF for b in built[4096:]))
    done = step_in_a_fresh_process(tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "agrees", done.stderr[-500:]
    warnings_ = [line for line in done.stderr.splitlines() if "adam kernel" in line]
    assert len(warnings_) == 1 and "rebuilding" in warnings_[0]
    assert adam_kernel.digest(path) == adam_kernel.hash_file(path).read_text().strip()
    again = step_in_a_fresh_process(tmp_path)  # rebuilt once: the next process says nothing
    assert again.stdout.strip() == "agrees" and "adam kernel" not in again.stderr


@needs_cc
def test_loading_sweeps_partial_builds_of_dead_processes(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphans = [tmp_path / f".adam-0123abcd-{dead}-89abcdef.so",
               tmp_path / f".adam-0123abcd-{dead}-89abcdef.sha256"]
    building = tmp_path / f".adam-0123abcd-{os.getpid()}-01234567.so"
    for path in (*orphans, building):
        path.write_bytes(b"\x7fELF partial")
    adam_kernel.load(tmp_path)
    assert not any(p.exists() for p in orphans) and building.exists()

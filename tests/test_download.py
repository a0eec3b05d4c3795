"""Downloads through torchvision from a local HTTP server serving gzipped MNIST idx files.

The served files are the real MNIST where ``$LOTTERY_DATA`` (or the shared data folder beside
the checkout) holds it, else small MNIST-format files made here (6,000 training and 1,000 test
images of random pixels): the download, md5 and repair logic is the same either way, so every
test runs on a newcomer's machine too. torchvision checks the md5 of each ``.gz`` it fetches
against ``MNIST.resources``; our gzip copies differ byte-wise from the originals (compression
settings, header), so the tests put their own md5s in ``resources`` and the server in
``mirrors``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import struct
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from lottery.engine.data import DATA_ENV, OFFLINE_ENV, DataUnavailable, load, real_folder
from lottery.engine.download import download, ensure, main

SHARED_RAW = Path(os.environ.get(DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" /
                  "data") / "MNIST" / "raw"
FILES = (  # in torchvision's order of MNIST.resources
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MADE_COUNTS = {"train": 6_000, "t10k": 1_000}  # the made-up files' examples


def _idx(kind: int, count: int, generator: torch.Generator) -> bytes:
    """An MNIST idx file: big-endian magic (3 dimensions for images, 1 for labels), sizes,
    then the bytes."""
    if kind == 3:
        body = torch.randint(256, (count, 28, 28), generator=generator, dtype=torch.uint8)
        return struct.pack(">iiii", 0x803, count, 28, 28) + body.numpy().tobytes()
    body = torch.randint(10, (count,), generator=generator, dtype=torch.uint8)
    return struct.pack(">ii", 0x801, count) + body.numpy().tobytes()


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """The MNIST idx files to serve: the real ones when present, else made-up ones."""
    if all((SHARED_RAW / name).is_file() for name in FILES):
        return SHARED_RAW
    folder = tmp_path_factory.mktemp("made-mnist")
    generator = torch.Generator().manual_seed(0)
    for name in FILES:
        count = MADE_COUNTS[name.split("-")[0]]
        (folder / name).write_bytes(_idx(3 if "images" in name else 1, count, generator))
    return folder


def counts(raw: Path) -> tuple[int, int]:
    """(train, test) examples of the idx files in ``raw`` (from their headers)."""
    return tuple(struct.unpack(">i", (raw / name).read_bytes()[4:8])[0]
                 for name in (FILES[1], FILES[3]))


@pytest.fixture(scope="module")
def served(raw, tmp_path_factory) -> Path:
    """A folder of gzipped copies of the idx files."""
    folder = tmp_path_factory.mktemp("served")
    for name in FILES:
        data = gzip.compress((raw / name).read_bytes(), compresslevel=1, mtime=0)
        (folder / f"{name}.gz").write_bytes(data)
    return folder


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class Server:
    """http.server on 127.0.0.1 in a thread, recording each request as (method, path)."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[tuple[str, str]] = []
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def send_head(self):
                requests.append((self.command, self.path))
                return super().send_head()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def fetched(self) -> set[str]:
        """Paths requested by GET (torchvision's redirect probe is a GET too, hence a set)."""
        return {path for method, path in self.requests if method == "GET"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    return monkeypatch


def serve(folder: Path, monkeypatch, md5_of: Path | None = None) -> Server:
    """Start a server on ``folder`` and make it torchvision's only MNIST mirror.

    The md5 list is that of ``md5_of`` (default: the served files themselves).
    """
    import torchvision.datasets

    server = Server(folder)
    reference = md5_of or folder
    resources = [(f"{name}.gz", md5(reference / f"{name}.gz")) for name in FILES]
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [server.url])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
    return server


@pytest.fixture
def server(served, env):
    server = serve(served, env)
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_checks_md5_then_load_reads_the_served_data(server, raw, tmp_path):
    [outcome] = download("mnist", root=tmp_path, progress=False)
    assert outcome.ok and str(outcome) == f"mnist: downloaded into {tmp_path} (md5 verified)"
    assert server.fetched() == {f"/{name}.gz" for name in FILES}
    for name in FILES:
        assert (tmp_path / "MNIST" / "raw" / name).read_bytes() == (raw / name).read_bytes()
    bundle = load("mnist", root=tmp_path, download=False)
    train, test = counts(raw)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (train - 5000, 5000, test)
    labels = torch.frombuffer(
        bytearray((raw / FILES[3]).read_bytes()[8:]), dtype=torch.uint8
    )
    assert torch.equal(bundle.test.y, labels.long())
    # A second run finds everything in place and asks the server for nothing.
    server.requests.clear()
    [again] = download("mnist", root=tmp_path, progress=False)
    assert again.state == "already present" and server.requests == []


def test_corrupt_archive_fails_md5_and_is_refetched(server, tmp_path):
    download("mnist", root=tmp_path, progress=False)
    archive = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    good = archive.read_bytes()
    archive.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    server.requests.clear()
    [outcome] = download("mnist", root=tmp_path, progress=False)
    assert outcome.state == "downloaded"
    assert "t10k-labels-idx1-ubyte.gz fails its md5 check" in str(outcome)
    assert server.fetched() == {"/t10k-labels-idx1-ubyte.gz"}  # only the bad one
    assert archive.read_bytes() == good


def test_truncated_extracted_file_is_rebuilt_from_the_verified_archive(server, raw, tmp_path):
    download("mnist", root=tmp_path, progress=False)
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    server.requests.clear()
    [outcome] = download("mnist", root=tmp_path, progress=False)
    assert outcome.state == "downloaded" and "truncated" in str(outcome)
    assert server.fetched() == set()  # the archive in place passed its md5: extracted again
    assert images.read_bytes() == (raw / "t10k-images-idx3-ubyte").read_bytes()


def test_server_sending_a_corrupt_file_is_refused(served, env, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(served, bad)
    data = (bad / "train-labels-idx1-ubyte.gz").read_bytes()
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(data[:-10])
    server = serve(bad, env, md5_of=served)
    try:
        [outcome] = download("mnist", root=tmp_path / "data", progress=False)
        assert outcome.state == "failed" and "checksum mismatch" in outcome.reason
        with pytest.raises(DataUnavailable) as info:
            ensure("mnist", root=tmp_path / "data", download=True)
    finally:
        server.close()
    message = str(info.value)
    assert "\n" not in message and "checksum mismatch" in message
    assert "`python -m lottery data mnist --root " in message


def test_server_down_gives_one_line_with_folder_and_command(env, served, tmp_path):
    import torchvision.datasets

    env.setattr(torchvision.datasets.MNIST, "mirrors", [closed_port_url()])
    env.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataUnavailable) as info:
        ensure("mnist", download=True)
    message = str(info.value)
    # the real folder, not "$LOTTERY_DATA" (reproduce sets it for kernels the user did not)
    assert message.startswith(f"MNIST (mnist) not available in {real_folder(tmp_path)}: "
                              "server unreachable")
    assert message.endswith("`python -m lottery data mnist` (or `make data`), or set "
                            "LOTTERY_DATA to a folder holding it in torchvision layout")
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no empty MNIST/raw left by the failed download


def test_offline_makes_no_request(server, env, tmp_path):
    env.setenv(OFFLINE_ENV, "1")
    [outcome] = download("mnist", root=tmp_path, progress=False)
    assert outcome.state == "missing" and f"{OFFLINE_ENV}=1" in str(outcome)
    with pytest.raises(DataUnavailable) as ensure_info:
        ensure("mnist", root=tmp_path, download=True)
    with pytest.raises(DataUnavailable) as load_info:
        load("mnist", root=tmp_path, download=True)
    for info in (ensure_info, load_info):
        assert f"{OFFLINE_ENV}=1, so no download attempted" in str(info.value)
    assert server.requests == [] and not (tmp_path / "MNIST").exists()


def test_ensure_reports_present_relative_to_the_current_folder(server, env, tmp_path):
    env.chdir(tmp_path)
    assert ensure("mnist", download=True) == "mnist: downloaded into ./data (md5 verified)"
    assert ensure("mnist", download=False) == "mnist: already present in ./data"
    assert ensure("synthetic_mnist", download=False).startswith("synthetic_mnist: synthetic")
    with pytest.raises(DataUnavailable) as info:
        ensure("fashion_mnist", download=False)
    assert str(info.value).startswith(
        "Fashion-MNIST (fashion_mnist) not available in ./data: files missing: "
    )
    assert "downloading is off; fix: `python -m lottery data fashion_mnist`" in str(info.value)


def test_command_line(server, env, tmp_path, capsys):
    assert main(["mnist", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"mnist: downloaded into {tmp_path} (md5 verified)\n"
    assert main(["--list", "--root", str(tmp_path)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("mnist ") and "present in" in listing[0]
    assert "missing in" in listing[1] and len(listing) == 6
    env.setenv(OFFLINE_ENV, "1")
    assert main(["mnist", "fashion_mnist", "--root", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == f"mnist: already present in {tmp_path}"
    assert captured.err == (
        "error: 1 of 2 datasets unavailable (fashion_mnist); see the lines above\n"
    )
    assert main(["imagenet"]) == 1
    assert capsys.readouterr().err.startswith("error: no downloadable dataset 'imagenet'")


def test_the_quick_notebook_decision_downloads_mnist(server, tmp_path):
    from lottery.run.session import setup

    session = setup("nb", "mnist", "quick", data_root=tmp_path)
    assert not session.synthetic and session.reason.startswith("real")
    assert server.fetched() and "MNIST" in session.data_label
    assert "synthetic" not in session.banner


def test_offline_the_quick_decision_is_one_line_and_no_stand_in(env, tmp_path):
    from lottery.run.session import setup

    env.setenv(OFFLINE_ENV, "1")
    with pytest.raises(DataUnavailable) as caught:
        setup("nb", "mnist", "quick", data_root=tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "python -m lottery data mnist" in message

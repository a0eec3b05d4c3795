"""``make lab`` starts JupyterLab, as root too (it adds ``--allow-root`` exactly then): started
on 127.0.0.1 on a free port, asked one HTTP request, stopped."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from lottery.run import lab

STARTUP_S = 90  # a busy 2-core machine needs a while to import the server


def test_allow_root_is_added_for_root_only(monkeypatch):
    monkeypatch.setattr(lab, "running_as_root", lambda: True)
    assert lab.lab_command(["--port", "1"])[-3:] == ["--allow-root", "--port", "1"]
    assert lab.lab_command(["--allow-root"]).count("--allow-root") == 1
    monkeypatch.setattr(lab, "running_as_root", lambda: False)
    assert "--allow-root" not in lab.lab_command()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                    reason="jupyterlab is not installed (the dev extra brings it)")
def test_lab_starts_answers_one_request_and_stops(tmp_path):
    port = _free_port()
    env = os.environ | {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
                        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    command = lab.lab_command(["--no-browser", "--ip=127.0.0.1", f"--port={port}",
                               "--ServerApp.port_retries=0", f"--notebook-dir={tmp_path}"])
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline, answer = time.monotonic() + STARTUP_S, None
        while answer is None and server.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
            answer = _get(f"http://127.0.0.1:{port}/api")  # the version: no token needed
        if answer is None:
            tail = " ".join(log.read_text().split()[-40:])
            if server.poll() is not None and "allow-root" in tail:
                pytest.fail(f"jupyter lab refused to run as root: {tail}")
            pytest.skip(f"jupyter lab did not start within {STARTUP_S} s here: {tail}")
        assert "version" in answer
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode is not None

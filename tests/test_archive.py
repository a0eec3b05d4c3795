"""The portable results archive (``lottery store export`` / ``import``, lottery/archive.py): a
fresh store with the archive reruns an experiment with no training and identical tables, an IMP
run exported part-way resumes elsewhere training only the later levels, and a damaged, foreign,
partial or conflicting archive is refused in one line with nothing written."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch

from lottery.core import archive
from lottery.core.experiments import run_imp, run_oneshot
from lottery.core.presets import resolve
from lottery.core.store import OMITTED, RunStore
from lottery.run import cli as lottery_cli


def smoke(**overrides):
    base = {"trials": 2, "levels": 2, "training__iterations": 40, "training__eval_every": 20,
            "oneshot_rounds": (1, 2)}
    return resolve("lenet", "smoke", **(base | overrides))


def table(result):
    return result.results.sort_values(["method", "level", "variant", "trial"]).reset_index(
        drop=True)


def same_results(a, b) -> bool:
    histories = [r.histories.sort_values(["level", "variant", "trial", "iteration"]
                                         ).reset_index(drop=True) for r in (a, b)]
    masks = a.masks.keys() == b.masks.keys() and all(
        torch.equal(a.masks[k][n], b.masks[k][n]) for k in a.masks for n in a.masks[k])
    return table(a).equals(table(b)) and histories[0].equals(histories[1]) and masks


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def cli(*argv) -> int:
    """``lottery store ARGV``."""
    return lottery_cli.main(["store", *map(str, argv)])


@pytest.fixture(scope="module")
def finished(tmp_path_factory, one_thread):
    """A finished smoke experiment (IMP with reinit, one-shot) and its results."""
    root = tmp_path_factory.mktemp("finished")
    imp = run_imp(smoke(), store=RunStore(root), progress=False)
    oneshot = run_oneshot(smoke(), store=RunStore(root), progress=False)
    return root, imp, oneshot


@pytest.fixture(scope="module")
def exported(finished, tmp_path_factory):
    out = tmp_path_factory.mktemp("archive") / "lenet-smoke.zip"
    assert cli("export", "--runs", finished[0], "-o", out) == 0
    return out


def test_a_fresh_store_with_the_archive_reruns_with_no_training_and_identical_tables(
        finished, exported, tmp_path, trained):
    root, imp, oneshot = finished
    assert cli("import", exported, "--runs", tmp_path / "fresh") == 0
    store = RunStore(tmp_path / "fresh")
    again_imp = run_imp(smoke(), store=store, progress=False)
    again_oneshot = run_oneshot(smoke(), store=store, progress=False)
    assert trained == []
    assert same_results(again_imp, imp) and same_results(again_oneshot, oneshot)


def test_resume_keeps_only_the_weights_a_later_stage_needs(finished, exported):
    _, entries = archive.read(exported, progress=False)
    with_final = {(e.folder.rsplit("/", 1)[1], e.name.split("-")[0]) for e in entries
                  if "final" in e.payload}
    # the dense runs (everything prunes from them) and the tickets nothing was pruned from:
    # the last IMP level's and the one-shot ones; not level 1's (level 2 was pruned from them)
    assert with_final == {("dense", "ticket"), ("rounds-2", "ticket")}
    level1 = [e for e in entries if e.folder.endswith("rounds-1") and e.name.startswith("ticket")]
    assert [e.payload[OMITTED] for e in level1] == [{"final": True}] * 2
    # per trial: dense; IMP levels 1 and 2 and one-shot 2 rounds (1 round is IMP level 1),
    # each a ticket and its reinit
    assert len(entries) == 2 * (1 + 3 * 2)


def test_the_archive_round_trips_every_payload_bit_for_bit(finished, tmp_path):
    root = finished[0]
    out = tmp_path / "all.zip"
    assert cli("export", "--runs", root, "-o", out, "--weights", "all") == 0
    _, entries = archive.read(out, progress=False)
    assert entries
    for entry in entries:
        stored = torch.load(RunStore(root).path(entry.folder, entry.name), weights_only=True)
        assert entry.key == stored["key"] and entry.provenance == stored["provenance"]
        original, copy = stored["payload"], entry.payload
        assert json.dumps(copy["history"]) == json.dumps(original["history"])
        assert copy["summary"] == original["summary"]
        assert list(copy) == list(original)
        for name, t in original.get("final", {}).items():  # -0.0 of pruned weights included
            assert copy["final"][name].dtype == t.dtype
            assert torch.equal(copy["final"][name].view(torch.int32), t.view(torch.int32))


def test_pruned_weights_are_stored_by_their_survivors_with_the_signs_of_zeros():
    t = torch.tensor([[0.5, -0.0, 0.0], [-1.5, 0.0, 2.0]])
    mask = torch.tensor([[True, False, False], [True, False, True]])
    from lottery.engine.masks import Mask
    payload = {"mask": Mask({"w": mask}).pack(), "final": {"w": t, "b": torch.ones(2)}}
    blob = archive._Blob()
    encoded = archive.encode_payload(payload, blob)
    assert encoded["final"]["items"]["w"]["$"] == "kept"
    decoded = archive.decode_payload(encoded, archive._Source(b"".join(blob.parts)))
    assert torch.equal(decoded["final"]["w"].view(torch.int32), t.view(torch.int32))
    assert torch.equal(decoded["final"]["b"], torch.ones(2))
    assert blob.size == 1 + 3 * 4 + 1 + 2 * 4  # mask bits, 3 survivors, signs of zeros, bias


def test_importing_twice_adds_nothing(exported, tmp_path, capsys):
    assert cli("import", exported, "--runs", tmp_path) == 0
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    capsys.readouterr()
    assert cli("import", exported, "--runs", tmp_path) == 0
    assert "imported 0 networks" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_an_imp_run_exported_part_way_resumes_training_only_the_later_levels(tmp_path, trained):
    uninterrupted = run_imp(smoke(levels=3), store=RunStore(tmp_path / "whole"), progress=False)
    run_imp(smoke(levels=1), store=RunStore(tmp_path / "cluster"), progress=False)
    assert cli("export", "lenet-synthetic_mnist", "--runs", tmp_path / "cluster",
               "-o", tmp_path / "part.zip") == 0
    assert cli("import", tmp_path / "part.zip", "--runs", tmp_path / "laptop") == 0
    trained.clear()
    resumed = run_imp(smoke(levels=3), store=RunStore(tmp_path / "laptop"), progress=False)
    assert trained == [4, 4]  # levels 2 and 3: two trials x (ticket, reinit)
    assert same_results(resumed, uninterrupted)


def test_without_weights_the_tables_load_and_a_new_level_retrains_only_its_chain(
        tmp_path, trained, single_thread):
    first = run_imp(smoke(levels=1), store=RunStore(tmp_path / "a"), progress=False)
    assert cli("export", "--runs", tmp_path / "a", "-o", tmp_path / "none.zip",
               "--weights", "none") == 0
    assert cli("import", tmp_path / "none.zip", "--runs", tmp_path / "b") == 0
    trained.clear()
    assert same_results(run_imp(smoke(levels=1), store=RunStore(tmp_path / "b"),
                                progress=False), first)
    assert trained == []
    resumed = run_imp(smoke(levels=2), store=RunStore(tmp_path / "b"), progress=False)
    # level 2 prunes from level 1's trained tickets, which the archive lacked: per trial the
    # dense net and the level-1 ticket are trained again (alone: the same numbers on one
    # thread), then level 2 as usual
    assert trained == [1, 1, 1, 1, 4]
    trained.clear()
    assert same_results(resumed, run_imp(smoke(levels=2), store=RunStore(tmp_path / "a"),
                                         progress=False))
    assert trained == [4]


# --- refusals: one line, nothing written ----------------------------------------------------
def refused(archive_path: Path, target: Path, capsys) -> str:
    capsys.readouterr()
    assert cli("import", archive_path, "--runs", target) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not target.exists() or not any(p.is_file() for p in target.rglob("*"))
    return err[0]


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of the archive with ``change(name, data)`` -> bytes or None (dropped)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info, data)
    return target


def test_a_truncated_archive_is_refused(exported, tmp_path, capsys):
    cut = tmp_path / "cut.zip"
    cut.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    assert "damaged archive, truncated" in refused(cut, tmp_path / "store", capsys)


def test_a_changed_member_is_refused_by_its_checksum(exported, tmp_path, capsys):
    def flip(name, data):
        if name.endswith(".bin"):
            return data[:100] + bytes([data[100] ^ 1]) + data[101:]
        return data
    bad = rewrite(exported, tmp_path / "bad.zip", flip)
    assert "checksum mismatch" in refused(bad, tmp_path / "store", capsys)


def test_a_corrupted_byte_on_disk_is_refused(exported, tmp_path, capsys):
    data = bytearray(exported.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside some member's compressed bytes
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    assert "damaged archive" in refused(bad, tmp_path / "store", capsys)


def test_a_partial_archive_is_refused(exported, tmp_path, capsys):
    dropped = []

    def drop_one(name, data):
        if name.endswith(".json") and name != archive.MANIFEST and not dropped:
            dropped.append(name)
            return None
        return data
    partial = rewrite(exported, tmp_path / "partial.zip", drop_one)
    line = refused(partial, tmp_path / "store", capsys)
    assert "partial archive" in line and dropped[0] in line


@pytest.mark.parametrize("case", ["not a zip", "no manifest", "another format",
                                  "a newer version"])
def test_a_foreign_archive_is_refused(case, exported, tmp_path, capsys):
    path = tmp_path / "foreign.zip"
    if case == "not a zip":
        path.write_bytes(b"\x80\x04 a pickle, say" * 10)
    elif case == "no manifest":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("data.json", "{}")
    else:
        def manifest(name, data):
            if name != archive.MANIFEST:
                return data
            m = json.loads(data)
            m |= {"format": "someone-else"} if case == "another format" else {"version": 99}
            return json.dumps(m).encode()
        rewrite(exported, path, manifest)
    line = refused(path, tmp_path / "store", capsys)
    assert ("version 99" in line) if case == "a newer version" else \
        ("not a lottery-run-archive" in line)


def test_a_different_entry_under_the_same_key_is_a_conflict_and_nothing_is_written(
        exported, tmp_path, capsys):
    target = tmp_path / "store"
    _, entries = archive.read(exported, progress=False)
    mine = entries[0]
    payload = dict(mine.payload) | {"summary": mine.payload["summary"] | {
        "final_test_acc": 0.123}}  # the same network trained elsewhere, other numbers
    RunStore(target).save(mine.folder, mine.name, mine.key, payload, mine.provenance)
    before = files(target)
    capsys.readouterr()
    assert cli("import", exported, "--runs", target) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differ" in err[0] and mine.where in err[0]
    assert "nothing imported" in err[0]
    assert files(target) == before


def test_an_import_completes_an_entry_that_lacked_weights(finished, tmp_path):
    root = finished[0]
    assert cli("export", "--runs", root, "-o", tmp_path / "none.zip", "--weights", "none") == 0
    assert cli("export", "--runs", root, "-o", tmp_path / "all.zip", "--weights", "all") == 0
    assert cli("import", tmp_path / "none.zip", "--runs", tmp_path / "s") == 0
    assert cli("import", tmp_path / "all.zip", "--runs", tmp_path / "s") == 0
    for path in (tmp_path / "s").rglob("*.pt"):
        original = torch.load(root / path.relative_to(tmp_path / "s"), weights_only=True)
        now = torch.load(path, weights_only=True)["payload"]
        assert OMITTED not in now and set(now) == set(original["payload"])


def test_export_names_settings_like_remove_and_says_what_it_wrote(finished, tmp_path, capsys):
    root = finished[0]
    assert cli("export", "*synthetic*", "--runs", root, "-o", tmp_path / "a.zip") == 0
    out = capsys.readouterr().out
    assert "14 networks" in out and "MB" in out
    assert cli("export", "vgg19-cifar10", "--runs", root, "-o", tmp_path / "b.zip") == 1
    assert "matches nothing" in capsys.readouterr().err
    assert cli("export", "--runs", root) == 1
    assert "--output" in capsys.readouterr().err
    assert not (tmp_path / "b.zip").exists()


def test_the_same_store_exports_to_the_same_bytes(finished, exported, tmp_path):
    again = tmp_path / "again.zip"
    assert cli("export", "--runs", finished[0], "-o", again) == 0
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(
        exported.read_bytes()).digest()


def test_an_entry_naming_a_place_outside_the_store_is_refused(exported, tmp_path, capsys):
    renamed = []

    def escape(name, data):
        if name.endswith(".json") and name != archive.MANIFEST and not renamed:
            record = json.loads(data)
            record["folder"] = "../../outside"
            renamed.append(name)
            return json.dumps(record).encode()
        return data
    rewrite(exported, tmp_path / "raw.zip", escape)

    def resum(name, data):  # checksums made to match, as a hostile archive would
        if name != archive.MANIFEST:
            return data
        m = json.loads(data)
        with zipfile.ZipFile(tmp_path / "raw.zip") as zf:
            m["members"][renamed[0]] = {"sha256": hashlib.sha256(zf.read(renamed[0])
                                                                 ).hexdigest(),
                                        "size": len(zf.read(renamed[0]))}
        return json.dumps(m).encode()
    hostile = rewrite(tmp_path / "raw.zip", tmp_path / "hostile.zip", resum)
    assert "outside the store" in refused(hostile, tmp_path / "store", capsys)
    assert not (tmp_path / "outside").exists()


def test_a_notebook_session_on_a_fresh_store_with_the_archive_trains_nothing(
        tmp_path, monkeypatch, trained):
    from lottery.run.session import setup

    def session_run(runs: Path):
        monkeypatch.setenv("LOTTERY_RUNS", str(runs))
        session = setup("01_lenet_mnist", "mnist", "smoke", trials=1,
                        output_dir=str(tmp_path / "figures"))
        cut = {"levels": 1, "training__iterations": 20, "training__eval_every": 10}
        imp = session.imp("lenet", controls=("reinit", "random_mask"), **cut)
        return imp, session.oneshot("lenet", controls=("reinit",), oneshot_rounds=(2,), **cut)

    first = session_run(tmp_path / "cluster")
    assert trained
    assert cli("export", "--runs", tmp_path / "cluster", "-o", tmp_path / "nb.zip") == 0
    assert cli("import", tmp_path / "nb.zip", "--runs", tmp_path / "laptop") == 0
    trained.clear()
    again = session_run(tmp_path / "laptop")
    assert trained == []
    assert all(same_results(a, b) for a, b in zip(first, again, strict=True))

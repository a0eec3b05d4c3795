"""A portable archive of run-store entries: ``lottery store export`` / ``lottery store import``.

A paper-scale run (Frankle & Carbin 2019: LeNet, 5 trials x 18 IMP levels x 3 controls, plus
one-shot) outlives a session and the machine it ran on. An archive carries what a notebook
needs to rebuild its tables and figures without training -- every network's key, provenance,
summary, history and mask -- and what a run needs to resume elsewhere: the trained weights a
later stage prunes from or rewinds to.

The format, and why. A zip (deflated) holding ``manifest.json`` and, per stored network,
``entries/<folder>/<name>.json`` (key, provenance, payload structure) and ``.bin`` (its tensors'
raw bytes, located by offset; dtype and shape in the JSON), and ``shared/<sha256>.bin``, bytes
several networks use (a mask), stored once. No pickle: JSON is parsed and bytes
are reinterpreted as numbers, so opening an archive can execute nothing, and every tool that
reads zip and JSON can inspect it. The manifest names the format and its version and holds the
sha256 and size of every member, so a damaged, truncated, foreign or partial archive is refused
in one line before anything is written. A member set is written in a fixed order with fixed
dates: the same store gives the same bytes, so committing a re-export adds nothing.

Compactness, losslessly (tables and resumed runs are bit-identical to the originals):
- masks stay one bit a weight (:meth:`lottery.engine.masks.Mask.pack`), each stored once (a reinit
  control trains with its ticket's mask);
- a trained weight tensor whose pruned entries are all zero keeps only its surviving values
  (float32) and the sign bits of its zeros (training leaves -0.0 where a mask multiplied);
- histories are float32 arrays when every value is a float32 (they are measured in float32),
  else float64;
- weights follow ``--weights``: ``resume`` (default) keeps each network's final weights unless
  another archived network was pruned from it and it is not a dense network (an IMP trial keeps
  its last finished level, the dense run everything rewinds or prunes from), and every rewind
  snapshot; ``none`` keeps no weights (tables and figures only); ``all`` keeps everything.

A payload whose weights were left out records which (``payload["omitted"]``); the runner
accepts it as trained and, should a later stage read the missing weights, retrains that network
from its seeds once (:class:`lottery.core.experiments.Restorable`).

Import checks the whole archive first (format, version, members, checksums, keys), then
compares each entry with what the store holds under its key: the same network is skipped (so a
second import adds nothing), one holding weights the store lacks completes it, and a different
one is a conflict: one line, nothing written. Each entry is written atomically by the store.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from tqdm.auto import tqdm

from lottery.core.store import (
    OMITTED,
    STORE_VERSION,
    RunStore,
    atomic_write,
    describe,
    notice,
    set_aside,
)
from lottery.engine.masks import Mask

FORMAT = "lottery-run-archive"
VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = ("resume", "none", "all")
_DATE = (2020, 1, 1, 0, 0, 0)  # fixed member dates: the same entries give the same bytes
_WEIGHT_KEYS = ("final", "snapshots")
_NAME = re.compile(r"^[A-Za-z0-9_.:=+-]+$")


class ArchiveError(ValueError):
    """An archive that cannot be written or read, said in one line."""


# --- payloads as JSON + bytes ----------------------------------------------------------------
class _Blob:
    """The bytes of one entry's tensors, appended in order; while ``share`` is set, tensors go
    to the archive-wide pool ``shared`` instead, stored once by content (a control trained
    with its ticket's mask stores that mask once)."""

    def __init__(self, shared: dict[str, bytes] | None = None):
        self.parts: list[bytes] = []
        self.size = 0
        self.shared = shared
        self.share = False

    def add(self, data: _Source) -> list[int] | dict:
        if self.share and self.shared is not None:
            digest = hashlib.sha256(data).hexdigest()
            self.shared.setdefault(digest, data)
            return {"shared": digest}
        self.parts.append(data)
        self.size += len(data)
        return [self.size - len(data), len(data)]


@dataclass
class _Source:
    """Where an entry's numbers are read from: its own bytes, and the archive's shared pool."""

    local: bytes
    shared: Callable[[str], bytes] = lambda digest: b""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _bytes_of(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _tensor(t: torch.Tensor, blob: _Blob, kept: torch.Tensor | None = None,
            layer: str = "") -> dict:
    """A tensor by reference into ``blob``: whole, or only where ``kept`` (``layer``'s mask)."""
    head = {"dtype": _dtype_name(t.dtype), "shape": list(t.shape)}
    if kept is not None:
        signs = torch.signbit(t[~kept])
        return head | {"$": "kept", "layer": layer, "values": blob.add(_bytes_of(t[kept])),
                       "signs": blob.add(np.packbits(signs.numpy()).tobytes())
                       if bool(signs.any()) else None}
    return head | {"$": "tensor", "at": blob.add(_bytes_of(t))}


def _keepable(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
    """The mask to store ``t`` sparsely by, when that loses nothing."""
    if mask is None or not t.is_floating_point() or tuple(mask.shape) != tuple(t.shape):
        return None
    return mask if bool((t[~mask] == 0).all()) else None


def _numbers(values: list, blob: _Blob) -> dict | None:
    """A list of plain ints or floats as one array, exactly; None when it holds anything else."""
    kinds = {type(v) for v in values}
    if kinds == {int}:
        array = np.asarray(values, dtype=np.int64)
        return {"$": "array", "dtype": "int64", "at": blob.add(array.tobytes())}
    if kinds <= {float, int} and float in kinds:
        wide = np.asarray(values, dtype=np.float64)
        narrow = wide.astype(np.float32)
        exact = np.array_equal(narrow.astype(np.float64), wide, equal_nan=True)
        array = narrow if exact else wide
        return {"$": "array", "dtype": str(array.dtype), "ints": sorted(
            i for i, v in enumerate(values) if type(v) is int) or None,
                "at": blob.add(array.tobytes())}
    return None


def encode(value, blob: _Blob, mask: Mask | None = None):
    """``value`` as JSON, its tensors and long number lists appended to ``blob``; the tensors
    of a state (``final``, snapshots) are stored sparsely by ``mask`` where that is lossless."""
    if isinstance(value, torch.Tensor):
        return _tensor(value, blob)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, tuple):
        return {"$": "tuple", "items": [encode(v, blob, mask) for v in value]}
    if isinstance(value, list):
        return (len(value) > 4 and _numbers(value, blob)) or [encode(v, blob, mask)
                                                               for v in value]
    if isinstance(value, dict):
        if mask is not None and value and all(isinstance(v, torch.Tensor) for v in
                                              value.values()):
            return {"$": "state", "items": {n: _tensor(t, blob, _keepable(t, mask.get(n)), n)
                                            for n, t in value.items()}}
        if all(isinstance(k, str) for k in value) and "$" not in value:
            return {k: encode(v, blob, mask) for k, v in value.items()}
        return {"$": "map", "items": [[encode(k, blob), encode(v, blob, mask)]
                                      for k, v in value.items()]}
    raise ArchiveError(f"cannot archive a value of type {type(value).__name__}")


def _slice(data: _Source, at) -> bytes:
    if isinstance(at, dict):
        return data.shared(at["shared"])
    start, size = at
    if start < 0 or size < 0 or start + size > len(data.local):
        raise ArchiveError("a tensor reaches past its entry's bytes")
    return data.local[start:start + size]


def _from_bytes(raw: bytes, dtype: str, shape=None) -> torch.Tensor:
    kind = getattr(torch, dtype, None)
    if not isinstance(kind, torch.dtype):
        raise ArchiveError(f"unknown tensor type {dtype!r}")
    t = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(
        0, dtype=torch.uint8)
    t = t.view(kind)
    return t.reshape(shape) if shape is not None else t


def decode(value, data: _Source, mask: Mask | None = None):
    """The value :func:`encode` wrote, its numbers read from ``data`` (``mask``: the payload's,
    for the tensors stored by their surviving values)."""
    if isinstance(value, list):
        return [decode(v, data, mask) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$")
    if tag is None:
        return {k: decode(v, data, mask) for k, v in value.items()}
    if tag == "tuple":
        return tuple(decode(v, data, mask) for v in value["items"])
    if tag == "map":
        return {decode(k, data): decode(v, data, mask) for k, v in value["items"]}
    if tag == "state":
        return {n: decode(t, data, mask) for n, t in value["items"].items()}
    if tag == "tensor":
        return _from_bytes(_slice(data, value["at"]), value["dtype"], value["shape"])
    if tag == "kept":
        return _unkeep(value, data, mask)
    if tag == "array":
        numbers = np.frombuffer(_slice(data, value["at"]), dtype=np.dtype(value["dtype"]))
        out = numbers.tolist()
        for i in value.get("ints") or ():
            out[i] = int(out[i])
        return out
    raise ArchiveError(f"unknown value tag {tag!r}")


def _unkeep(value: dict, data: _Source, mask: Mask | None) -> torch.Tensor:
    """A tensor stored by its surviving values: zeros (with their signs) where ``mask`` prunes."""
    kept = None if mask is None else mask.get(value["layer"])
    if kept is None or list(kept.shape) != value["shape"]:
        raise ArchiveError(f"a weight tensor of {value['layer']!r} lacks its mask")
    values = _from_bytes(_slice(data, value["values"]), value["dtype"])
    if values.numel() != int(kept.sum()):
        raise ArchiveError(f"{value['layer']!r}: surviving values do not match the mask")
    t = torch.zeros(value["shape"], dtype=values.dtype)
    t[kept] = values
    if value["signs"] is not None:
        pruned = int((~kept).sum())
        bits = np.unpackbits(np.frombuffer(_slice(data, value["signs"]), dtype=np.uint8))
        negative = torch.from_numpy(bits[:pruned].astype(bool))
        zeros = t[~kept]
        zeros[negative] = -0.0
        t[~kept] = zeros
    return t


def encode_payload(payload: dict, blob: _Blob) -> dict:
    """A stored network's payload; weight tensors sparse by the payload's own mask, the mask
    in the shared pool."""
    mask = Mask.unpack(payload["mask"]) if payload.get("mask") is not None else None
    encoded = {}
    for k, v in payload.items():
        blob.share = k == "mask"
        encoded[k] = encode(v, blob, mask if k in _WEIGHT_KEYS else None)
    blob.share = False
    return encoded


def decode_payload(encoded: dict, data: _Source) -> dict:
    packed = decode(encoded.get("mask"), data)
    mask = Mask.unpack(packed) if packed is not None else None
    return {k: packed if k == "mask" else decode(v, data, mask) for k, v in encoded.items()}


def _bar(items, desc: str, progress: bool):
    """A progress bar over ``items`` on a terminal (none when output is piped or logged)."""
    return tqdm(items, desc=desc, disable=None if progress else True, leave=False)


# --- entries ---------------------------------------------------------------------------------
@dataclass
class Entry:
    """One stored network: where it lives in the store, its key, provenance and payload."""

    folder: str
    name: str
    key: dict
    provenance: dict
    payload: dict

    @property
    def where(self) -> str:
        return f"{self.folder}/{self.name}.pt"


def read_stored(path: Path, root: Path) -> Entry | None:
    """The store entry at ``path`` (loaded weights-only), or None, said in one line, when it
    cannot be used."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(entry, dict) or entry.get("key_id") != RunStore.key_id(entry["key"]):
            raise ValueError("its key does not match its key hash")
    except Exception as error:  # unreadable, truncated, another store version
        notice(f"export: skipped {path} ({describe(error)})")
        return None
    folder = path.parent.relative_to(root).as_posix()
    return Entry(folder, path.stem, entry["key"], entry.get("provenance", {}), entry["payload"])


def _strings(value) -> set[str]:
    """Every string inside a key: the key hashes of the networks it derives from among them."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values()), set())
    if isinstance(value, (list, tuple)):
        return set().union(*map(_strings, value), set())
    return set()


def thinned(entry: Entry, referenced: bool, weights: str) -> dict:
    """``entry``'s payload with the weights ``weights`` leaves out, recorded under OMITTED."""
    payload = dict(entry.payload)
    if weights == "all":
        return payload
    omitted = dict(payload.get(OMITTED) or {})
    dense = entry.key.get("mask") == "dense"
    if "final" in payload and (weights == "none" or (referenced and not dense)):
        del payload["final"]
        omitted["final"] = True
    if payload.get("snapshots") and weights == "none":
        omitted["snapshots"] = sorted({*omitted.get("snapshots", []), *payload["snapshots"]})
        del payload["snapshots"]
    if omitted:
        payload[OMITTED] = omitted
    return payload


def _member(zf: zipfile.ZipFile, name: str, data: _Source, sums: dict) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)
    sums[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _entry_json(entry: Entry, payload: dict, blob: _Blob) -> bytes:
    record = {"folder": entry.folder, "name": entry.name,
              "key_id": RunStore.key_id(entry.key), "key": encode(entry.key, blob),
              "provenance": encode(entry.provenance, blob),
              "payload": encode_payload(payload, blob)}
    return json.dumps(record, separators=(",", ":")).encode()


def export(root: Path, folders: Iterable[Path], out: Path, weights: str = "resume",
           progress: bool = True) -> str:
    """Write the networks stored under ``folders`` (recipe folders of the store at ``root``)
    to the archive ``out``; returns a one-line summary."""
    if weights not in WEIGHTS:
        raise ArchiveError(f"--weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    files = sorted({p for f in folders for p in Path(f).rglob("*.pt")})
    # first the keys alone (which network derives from which), then one entry at a time
    keys = {p: e.key for p in _bar(files, "reading the store", progress)
            if (e := read_stored(p, root)) is not None}
    if not keys:
        raise ArchiveError(f"no stored networks to export under {root}")
    ids = {RunStore.key_id(key) for key in keys.values()}
    referenced = set().union(*(_strings(key) for key in keys.values())) & ids
    kept = 0

    def write(tmp: Path) -> None:
        nonlocal kept
        sums: dict = {}
        shared: dict[str, bytes] = {}
        with zipfile.ZipFile(tmp, "w") as zf:
            for path, key in _bar(keys.items(), "archiving", progress):
                entry = read_stored(path, root)
                if entry is None or entry.key != key:
                    raise ArchiveError(f"{path} changed while it was exported; export again")
                payload = thinned(entry, RunStore.key_id(key) in referenced, weights)
                kept += "final" in payload
                blob = _Blob(shared)
                stem = f"entries/{entry.folder}/{entry.name}"
                _member(zf, stem + ".json", _entry_json(entry, payload, blob), sums)
                if blob.size:
                    _member(zf, stem + ".bin", b"".join(blob.parts), sums)
            for digest, data in sorted(shared.items()):
                _member(zf, f"shared/{digest}.bin", data, sums)
            manifest = {"format": FORMAT, "version": VERSION, "store_version": STORE_VERSION,
                        "weights": weights, "networks": len(keys), "members": sums}
            _member(zf, MANIFEST, json.dumps(manifest, indent=1).encode(), {})

    out = Path(out)
    atomic_write(out, write)
    return (f"wrote {out}: {len(keys)} networks, final weights of {kept} "
            f"(--weights {weights}), {out.stat().st_size / 2**20:.2f} MB")


# --- reading and importing -------------------------------------------------------------------
def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as error:
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04":  # a zip that lost its end: an interrupted copy or download
            raise ArchiveError(f"{path}: damaged archive, truncated or incomplete "
                               f"({describe(error)})") from None
        raise ArchiveError(f"{path}: not a {FORMAT} (not a zip file)") from None


def _manifest(zf: zipfile.ZipFile, path: Path) -> dict:
    names = set(zf.namelist())
    if MANIFEST not in names:
        raise ArchiveError(f"{path}: not a {FORMAT} (no {MANIFEST})")
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except (ValueError, zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(f"{path}: damaged archive, unreadable {MANIFEST} "
                           f"({describe(error)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{path}: not a {FORMAT} (its manifest names format "
                           f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("version") != VERSION:
        raise ArchiveError(f"{path}: {FORMAT} version {manifest.get('version')!r}; this "
                           f"version of lottery reads version {VERSION}")
    if manifest.get("store_version") != STORE_VERSION:
        raise ArchiveError(f"{path}: its networks are keyed for run store version "
                           f"{manifest.get('store_version')!r}, this store uses {STORE_VERSION}")
    members = manifest.get("members") or {}
    missing = sorted(set(members) - names)
    counted = sum(m.endswith(".json") for m in members)
    if missing or counted != manifest.get("networks"):
        example = f", e.g. {missing[0]}" if missing else ""
        raise ArchiveError(f"{path}: partial archive, {len(missing)} of {len(members)} members "
                           f"missing{example} ({counted} of {manifest.get('networks')} "
                           f"networks listed); nothing imported")
    unlisted = sorted(names - set(members) - {MANIFEST})
    if unlisted:
        raise ArchiveError(f"{path}: damaged archive, {len(unlisted)} member(s) its manifest "
                           f"does not list, e.g. {unlisted[0]}")
    return manifest


def _checked(zf: zipfile.ZipFile, name: str, expected: dict, path: Path) -> bytes:
    try:
        data = zf.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        raise ArchiveError(f"{path}: damaged archive, {name} unreadable "
                           f"({describe(error)})") from None
    if len(data) != expected.get("size") or \
            hashlib.sha256(data).hexdigest() != expected.get("sha256"):
        raise ArchiveError(f"{path}: damaged archive, checksum mismatch in {name}")
    return data


def _safe(folder: str, name: str) -> bool:
    parts = PurePosixPath(folder).parts
    return bool(parts) and not PurePosixPath(folder).is_absolute() and all(
        _NAME.match(p) and p not in (".", "..") for p in parts) and bool(_NAME.match(name))


def _entry(record: dict, data: _Source) -> Entry:
    folder, name = record["folder"], record["name"]
    if not _safe(folder, name):
        raise ArchiveError(f"an entry names a place outside the store: {folder}/{name}")
    key = decode(record["key"], data)
    if RunStore.key_id(key) != record["key_id"] or not name.endswith(record["key_id"]):
        raise ArchiveError(f"{folder}/{name}: its key does not match its key hash")
    return Entry(folder, name, key, decode(record["provenance"], data),
                 decode_payload(record["payload"], data))


def read(path: Path, progress: bool = True) -> tuple[dict, list[Entry]]:
    """The manifest and entries of the archive ``path``, every check passed (ArchiveError,
    one line, otherwise)."""
    path = Path(path)
    with _open(path) as zf:
        manifest = _manifest(zf, path)
        members = manifest["members"]
        pool: dict[str, bytes] = {}

        def shared(digest: str) -> bytes:
            name = f"shared/{digest}.bin"
            if name not in members:
                raise ArchiveError(f"{name} is used but not in the archive")
            if digest not in pool:
                pool[digest] = _checked(zf, name, members[name], path)
            return pool[digest]

        entries = []
        for name in _bar(sorted(m for m in members if m.endswith(".json")), "reading", progress):
            blob = name.removesuffix(".json") + ".bin"
            data = _Source(_checked(zf, blob, members[blob], path) if blob in members else b"",
                           shared)
            try:
                record = json.loads(_checked(zf, name, members[name], path))
                entries.append(_entry(record, data))
            except ArchiveError as error:
                raise ArchiveError(f"{path}: damaged archive, {error}") from None
            except (ValueError, KeyError, TypeError, RuntimeError) as error:
                raise ArchiveError(f"{path}: damaged archive, {name} cannot be decoded "
                                   f"({describe(error)})") from None
    return manifest, entries


def _tables(payload: dict) -> str:
    """What a table or figure reads of a network, as comparable text."""
    mask = payload.get("mask")
    bits = None if mask is None else {n: [m["shape"], m["bits"].numpy().tobytes().hex()]
                                      for n, m in mask.items()}
    return json.dumps([payload.get("summary"), payload.get("history"), bits], sort_keys=True,
                      default=str)


def completed(stored: dict, incoming: dict) -> dict | None:
    """``stored`` with the weights ``incoming`` holds and it lacks, or None when none."""
    lacking = [k for k in _WEIGHT_KEYS if k not in stored and k in incoming]
    if not lacking:
        return None
    merged = {k: v for k, v in stored.items() if k != OMITTED} | {k: incoming[k]
                                                                  for k in lacking}
    omitted = {k: v for k, v in (stored.get(OMITTED) or {}).items() if k not in merged}
    return merged | ({OMITTED: omitted} if omitted else {})


def _verdict(store: RunStore, entry: Entry) -> tuple[str, dict | None]:
    """("new" | "unreadable" | "same" | "complete" | "conflict", the payload to write)."""
    path = store.path(entry.folder, entry.name)
    if not path.exists():
        return "new", entry.payload
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        same_key = stored.get("key_id") == RunStore.key_id(entry.key)
        payload = stored["payload"]
    except Exception:  # the store would set it aside and recompute; the archive has it
        return "unreadable", entry.payload
    if not same_key or _tables(payload) != _tables(entry.payload):
        return "conflict", None
    merged = completed(payload, entry.payload)
    return ("complete", merged) if merged is not None else ("same", None)


def import_(path: Path, root: Path | None = None, progress: bool = True) -> str:
    """Add the archive's networks to the store at ``root``; returns a one-line summary."""
    _, entries = read(path, progress)
    store = RunStore(root)
    verdicts = [(entry, *_verdict(store, entry)) for entry in entries]
    conflicts = [entry for entry, verdict, _ in verdicts if verdict == "conflict"]
    if conflicts:
        raise ArchiveError(f"{path}: {len(conflicts)} network(s) differ from those {store.root} "
                           f"holds under the same key, e.g. {conflicts[0].where}; nothing "
                           f"imported")
    counts = {v: 0 for v in ("new", "unreadable", "same", "complete")}
    for entry, verdict, payload in _bar(verdicts, "importing", progress):
        counts[verdict] += 1
        if verdict == "unreadable":
            set_aside(store.path(entry.folder, entry.name), "unreadable",
                      then="replaced by the archive's copy")
        if payload is not None:
            store.save(entry.folder, entry.name, entry.key, payload, entry.provenance)
    added = counts["new"] + counts["unreadable"]
    return (f"imported {added} networks into {store.root} from {path} ({counts['same']} "
            f"already there, {counts['complete']} completed with weights)")

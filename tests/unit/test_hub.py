"""Hub downloads (voxsep.interop.hub) against a local HTTP server on 127.0.0.1 that serves a
small fake model repository in the Hugging Face hub's URL layout (``HF_ENDPOINT``):
repository info, file tree, ``resolve/<revision>/<file>`` with the commit and ETag
headers. Failed and interrupted transfers must leave nothing in the cache; offline mode
must not send a single request."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from voxsep import checkpoint, cli, models
from voxsep.inference.api import Separator
from voxsep.interop import hub, import_model

pytestmark = pytest.mark.usefixtures("one_thread")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
REPO = "someorg/tiny-sep"


class FakeHub:
    """A model repository served in the hub's URL layout. ``files`` per commit; ``fail``
    names files answered with HTTP 500, ``truncate`` files whose body stops half-way
    (the connection closes: an interrupted download). ``requests`` logs every request."""

    def __init__(self, files: dict[str, dict[str, bytes]], branches: dict[str, str]) -> None:
        self.files, self.branches = files, branches
        self.fail: set[str] = set()
        self.truncate: set[str] = set()
        self.requests: list[tuple[str, str]] = []

    def commit(self, revision: str) -> str | None:
        revision = self.branches.get(revision, revision)
        return revision if revision in self.files else None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hub_ = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def reply(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def handle_request(self, head: bool) -> None:
                hub_.requests.append((self.command, self.path))
                path = self.path.split("?")[0]
                api = f"/api/models/{REPO}/"
                if path.startswith(api + "revision/") or path.startswith(api + "tree/"):
                    kind, revision = path[len(api):].split("/", 2)[:2]
                    commit = hub_.commit(revision)
                    if commit is None:
                        return self.reply(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
                    files = hub_.files[commit]
                    if kind == "revision":
                        body = {"id": REPO, "sha": commit, "siblings": [{"rfilename": f} for f in files]}
                    else:
                        body = [{"type": "file", "path": f, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                                for f, d in files.items()]
                    return self.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
                prefix = f"/{REPO}/resolve/"
                if path.startswith(prefix):
                    revision, name = path[len(prefix):].split("/", 1)
                    commit = hub_.commit(revision)
                    if commit is None or name not in hub_.files[commit]:
                        return self.reply(404, b"", {"X-Error-Code": "EntryNotFound"})
                    data = hub_.files[commit][name]
                    if name in hub_.fail:
                        return self.reply(500, b"internal error")
                    headers = {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
                    if head:
                        return self.reply(200, data, headers, head=True)
                    if name in hub_.truncate:
                        self.send_response(200)
                        for key, value in headers.items():
                            self.send_header(key, value)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return None
                    return self.reply(200, data, headers)
                return self.reply(404, b"", {"X-Error-Code": "RepoNotFound"})

            def do_GET(self) -> None:
                self.handle_request(head=False)

            def do_HEAD(self) -> None:
                self.handle_request(head=True)

        return Handler


def tiny_repo_files(seed: int) -> dict[str, bytes]:
    """A tiny voxsep model as the hub would hold it: model.safetensors + config.json."""
    torch.manual_seed(seed)
    model = models.build("conv_tasnet", n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2,
                         n_repeats=1).eval()
    data = checkpoint.checkpoint_dict(model, sample_rate=8000)
    metadata = {k: json.dumps(v) for k, v in data.items() if k != "state_dict"}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        save_file({k: v.contiguous() for k, v in data["state_dict"].items()}, f"{tmp}/m", metadata=metadata)
        weights = Path(f"{tmp}/m").read_bytes()
    return {"model.safetensors": weights, "config.json": json.dumps({"note": f"tiny model {seed}"}).encode(),
            "example.wav": b"RIFF not downloaded"}


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    server_hub = FakeHub({COMMIT: tiny_repo_files(0), OLD_COMMIT: tiny_repo_files(1)},
                         {"main": COMMIT, "v1": OLD_COMMIT})
    server = ThreadingHTTPServer(("127.0.0.1", 0), server_hub.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield server_hub
    server.shutdown()
    server.server_close()


def cache_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_download_fills_the_cache_and_import_records_revision_and_sha256(fake_hub, tmp_path):
    snapshot = hub.download(REPO, progress=False)
    assert snapshot == tmp_path / "cache" / "models--someorg--tiny-sep" / "snapshots" / COMMIT
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.safetensors"]  # no example.wav
    assert not any(".voxsep-download-" in f for f in cache_files(tmp_path))
    model, meta = import_model(REPO, download=True)
    assert meta["source"]["revision"] == COMMIT and meta["source"]["hub_id"] == REPO
    expected = hashlib.sha256(fake_hub.files[COMMIT]["model.safetensors"]).hexdigest()
    assert meta["source"]["files"] == [{"file": "model.safetensors", "sha256": expected}]


def test_from_pretrained_routes_a_hub_id_to_the_download(fake_hub, tmp_path):
    """Separator.from_pretrained("org/name") downloads a model the cache does not have, as
    Asteroid's and SpeechBrain's from_pretrained do; the bundled names stay local."""
    assert cache_files(tmp_path) == []
    separator = Separator.from_pretrained(REPO, fast=False)
    assert separator.n_src == 2 and fake_hub.requests  # it went to the (local) hub
    assert any(name.endswith("model.safetensors") for name in cache_files(tmp_path))
    before = len(fake_hub.requests)
    Separator.from_pretrained(fast=False)  # the bundled model: no request
    assert len(fake_hub.requests) == before


def test_a_cached_model_is_used_without_the_network_and_offline_sends_nothing(fake_hub, tmp_path, monkeypatch):
    hub.download(REPO, progress=False)
    before = len(fake_hub.requests)
    hub.download(REPO, progress=False)  # cached with refs/main: no request
    assert len(fake_hub.requests) == before
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    separator = Separator.from_pretrained(REPO, fast=False)
    assert separator.n_src == 2 and len(fake_hub.requests) == before


def test_offline_without_the_model_says_how_to_get_it_and_sends_nothing(fake_hub, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"offline.*huggingface-cli download someorg/tiny-sep"):
        hub.download(REPO, offline=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        import_model(REPO, download=True)
    assert fake_hub.requests == [] and cache_files(tmp_path) == []
    assert cli.main(["import-model", REPO, str(tmp_path / "x.pt")]) != 0
    assert cli.main(["separate", str(tmp_path / "none.wav"), "--out", str(tmp_path / "o"), "--model", REPO,
                     "--offline"]) != 0
    assert fake_hub.requests == []


def test_a_pinned_revision(fake_hub, tmp_path):
    model_v1, meta = import_model(REPO, download=True, revision="v1")
    assert meta["source"]["revision"] == OLD_COMMIT
    model_main, meta = import_model(REPO, download=True, revision=COMMIT)
    assert meta["source"]["revision"] == COMMIT
    assert not torch.equal(model_v1.state_dict()["encoder.weight"] if "encoder.weight" in model_v1.state_dict()
                           else next(iter(model_v1.state_dict().values())),
                           next(iter(model_main.state_dict().values())))
    before = len(fake_hub.requests)
    import_model(REPO, download=True, revision=OLD_COMMIT)  # a commit in the cache: no request
    assert len(fake_hub.requests) == before
    with pytest.raises(hub.HubDownloadError, match="could not download someorg/tiny-sep at nope.*Nothing was added"):
        hub.download(REPO, revision="nope", progress=False)


@pytest.mark.parametrize("failure", ["fail", "truncate"])
def test_a_failed_or_interrupted_download_leaves_nothing_behind(fake_hub, tmp_path, failure):
    getattr(fake_hub, failure).add("model.safetensors")
    with pytest.raises(hub.HubDownloadError, match="Nothing was added to the cache"):
        hub.download(REPO, progress=False)
    assert cache_files(tmp_path) == []  # no staging folder, no blob, no snapshot, no ref
    with pytest.raises(hub.HubDownloadError):
        Separator.from_pretrained(REPO)
    out = tmp_path / "out.pt"
    assert cli.main(["import-model", REPO, str(out)]) != 0
    assert not out.exists() and cache_files(tmp_path) == []
    getattr(fake_hub, failure).clear()  # the next try succeeds
    assert (hub.download(REPO, progress=False) / "model.safetensors").is_file()


def test_cli_downloads_and_separates(fake_hub, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    out = tmp_path / "m.pt"
    assert cli.main(["import-model", REPO, str(out), "--revision", "v1"]) == 0
    assert checkpoint.load(out)[1]["source"]["revision"] == OLD_COMMIT
    wav = tmp_path / "mix.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1, 8000)
    assert cli.main(["separate", str(wav), "--out", str(tmp_path / "sep"), "--model", REPO]) == 0
    assert (tmp_path / "sep" / "mix_spk1.wav").is_file()


def test_models_pretrained_lists_bundled_known_and_cached_models(fake_hub, tmp_path, capsys):
    assert cli.main(["models", "--pretrained", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["convtasnet_offline8k"]["kind"] == "bundled" and rows["convtasnet_offline8k"]["local"]
    tiger = rows["JusperLee/TIGER-speech"]
    assert (tiger["architecture"], tiger["sample_rate"], tiger["licence"], tiger["local"]) == ("tiger", 16000,
                                                                                             "Apache-2.0", False)
    assert REPO not in rows
    hub.download(REPO, progress=False)
    assert cli.main(["models", "--pretrained", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[REPO]["kind"] == "cache" and rows[REPO]["local"]
    assert cli.main(["models", "--pretrained"]) == 0
    text = capsys.readouterr().out
    assert "JusperLee/TIGER-speech" in text and REPO in text and "published score" in text
    assert cli.main(["models", "--json"]) == 2  # --json needs --pretrained


def test_a_ref_leading_outside_the_cache_entry_is_not_followed(fake_hub, tmp_path):
    entry = tmp_path / "cache" / "models--someorg--tiny-sep"
    (entry / "refs").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (entry / "snapshots").mkdir()
    (entry / "refs" / "evil").write_text("../../../elsewhere")
    assert hub.cached_snapshot(REPO, "evil") is None
    assert hub.cached_snapshot(REPO, "../../elsewhere") is None
    with pytest.raises(FileNotFoundError, match="huggingface-cli download someorg/tiny-sep --revision evil"):
        hub.download(REPO, revision="evil", offline=True)


def test_evaluate_takes_a_hub_id_as_separate_does(fake_hub, tmp_path):
    """``voxsep evaluate --model org/name`` downloads a model the cache does not have (the
    user named it, as with ``voxsep separate``) and scores it."""
    import numpy as np
    import soundfile as sf

    root = tmp_path / "tt"
    rng = np.random.default_rng(0)
    for sub in ("mix", "s1", "s2"):
        (root / sub).mkdir(parents=True)
    a, b = 0.1 * rng.standard_normal((2, 4000)).astype("float32")
    sf.write(root / "s1" / "u.wav", a, 8000)
    sf.write(root / "s2" / "u.wav", b, 8000)
    sf.write(root / "mix" / "u.wav", a + b, 8000)
    out = tmp_path / "res.csv"
    assert cli.main(["evaluate", "--model", REPO, str(root), "--out", str(out), "--no-quality", "--no-sdr"]) == 0
    assert out.is_file() and any(name.endswith("model.safetensors") for name in cache_files(tmp_path))

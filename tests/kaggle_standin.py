"""A stand-in for the Kaggle API, on loopback, for testing cornkit with the real ``kaggle`` client.

kaggle 2.2.x with ``KAGGLE_API_ENVIRONMENT=LOCALHOST`` sends every call to
``http://localhost`` (port 80, fixed) as ``POST /api/v1/<service>/<method>`` with a JSON body.
Rather than binding port 80, the tests point ``HTTP_PROXY`` at this server: ``requests`` then
sends each request, with its absolute ``http://localhost/...`` URL, here, on a free port, and
nothing the client does can leave the machine (``HTTPS_PROXY`` points here too, and a
``CONNECT`` is refused).

It implements exactly the calls cornkit makes (competition download, submission upload and
create, list submissions, kernel push, status and output, the weekly GPU quota, token
introspection), scores submissions against the synthetic set's ``solution.csv`` with its
Public/Private partition, and records every request so tests can assert on what the client sent.

Kernels can run over time, as on Kaggle: with ``kernel_run_s`` set, every pushed version runs
for that many seconds, then completes; a GPU push while ``gpu_session_limit`` GPU kernels run is
refused the way Kaggle refuses it (HTTP 200, the reason in the response's ``error``).

``failures`` makes a method fail before it answers normally, as a busy or flaky Kaggle does:
``{"SaveKernel": [503, "reset"]}`` answers the next push with HTTP 503, closes the connection
of the one after without an answer, then pushes as usual.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

BASE = "http://localhost"


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class StandinKaggle:
    """The state behind the fake API: one competition, one user, their submissions and kernels.

    ``kernel_statuses`` is what successive status calls answer; the last one repeats (unless
    ``kernel_run_s`` is set: then each version is RUNNING that long after its push, then COMPLETE).
    ``kernels`` maps each pushed slug to its version, its last push request, the accelerator
    (the request's machine shape; None for Kaggle's default) it would run on, whether it uses a
    GPU and when its version started. ``kernel_outputs`` maps ``owner/slug`` (any version) or
    ``owner/slug/vN`` (that version) to its output files by name (names may hold folders).
    ``most_gpu_running`` is the most GPU kernels ever running at once; ``refusals`` counts the
    pushes refused for the session count. ``on_push(slug, version)``, when set, is what the pushed
    version leaves in its output (as running the notebook would): its files are stored as that
    version's; a slug in ``failing`` ends its runs in ERROR instead of COMPLETE.
    ``echo_requests`` makes every error answer quote the request's headers back (as some proxies
    and debug servers do), to test that no form of the secret reaches the user's screen.
    """

    competition: str
    data_dir: Path
    username: str = "cornkit-tester"
    key: str = "0123456789abcdef0123456789abcdef"
    token: str = "KGAT_standin_token"
    rules_accepted: bool = True
    evaluation_metric: str = "Categorization Accuracy"
    echo_requests: bool = False
    kernel_statuses: list[str] = field(default_factory=lambda: ["COMPLETE"])
    kernel_outputs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    kernel_run_s: float | None = None
    gpu_session_limit: int = 2
    gpu_quota_used_s: float = 4 * 3600.0
    gpu_quota_total_s: float = 30 * 3600.0
    on_push: Callable[[str, int], dict[str, bytes]] | None = None
    failing: set[str] = field(default_factory=set)
    most_gpu_running: int = 0
    refusals: int = 0
    failures: dict[str, list[int | str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    kernels: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str) -> list[Recorded]:
        """The recorded requests whose path ends with ``method`` (e.g. ``"SaveKernel"``)."""
        return [r for r in self.requests if r.path.rsplit("/", 1)[-1] == method]

    def running(self, slug: str) -> bool:
        """Whether the kernel's latest version still runs (``kernel_run_s`` mode)."""
        kernel = self.kernels[slug]
        return self.kernel_run_s is not None and time.monotonic() < kernel["started"] + self.kernel_run_s

    def gpu_running(self) -> int:
        return sum(1 for slug, kernel in self.kernels.items() if kernel["gpu"] and self.running(slug))

    def competition_zip(self) -> bytes:
        """The competition files as Kaggle ships them: a zip with a ``corn/`` folder, no solution."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(self.data_dir.rglob("*")):
                if path.is_file() and path.name != "solution.csv":
                    archive.write(path, f"corn/{path.relative_to(self.data_dir).as_posix()}")
        return buffer.getvalue()

    def score(self, content: bytes) -> tuple[str, str, str | None]:
        """Public and private accuracy of a submission file, as Kaggle's scorer would report them."""
        solution = pd.read_csv(self.data_dir / "solution.csv")
        try:
            submitted = pd.read_csv(io.BytesIO(content))
            predicted = submitted.set_index("seed_id")["label"].reindex(solution["seed_id"]).to_numpy()
        except (KeyError, ValueError, pd.errors.ParserError) as error:
            return "", "", f"could not read the submission: {error}"
        correct = pd.Series(predicted == solution["label"].to_numpy())
        public = correct[(solution["Usage"] == "Public").to_numpy()].mean()
        private = correct[(solution["Usage"] == "Private").to_numpy()].mean()
        return f"{public:.5f}", f"{private:.5f}", None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the requests are recorded instead."""

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        if self.server.state.echo_requests:
            message += " (request headers: " + "; ".join(f"{name}: {value}" for name, value in self.headers.items()) + ")"
        self._json(status, {"code": status, "message": message})

    def _authorized(self) -> bool:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{state.username}:{state.key}".encode()).decode()
        return header in (basic, f"Bearer {state.token}")

    def _record(self, body: Any) -> None:
        state = self.server.state
        with state._lock:
            state.requests.append(Recorded(self.command, self._path(), self.headers.get("Authorization"), body))

    def do_CONNECT(self) -> None:
        """HTTPS through this 'proxy' would mean the client tried to reach the real internet."""
        self._record(None)
        self._error(405, "the stand-in serves http://localhost only")

    def do_GET(self) -> None:
        self._record(None)
        state, path = self.server.state, self._path()
        if path == f"/blobs/{state.competition}.zip":
            self._send(200, state.competition_zip(), "application/zip", {"Last-Modified": formatdate(usegmt=True)})
            return
        parts = path.strip("/").split("/")
        if len(parts) >= 5 and parts[0] == "kernel-output":
            key = "/".join(parts[1:3] if parts[3] == "latest" else parts[1:4])
            content = state.kernel_outputs.get(key, {}).get("/".join(parts[4:]))
            if content is not None:
                self._send(200, content, "application/octet-stream")
                return
        self._error(404, f"no such file: {path}")

    def do_PUT(self) -> None:
        content = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(len(content))
        token = self._path().rsplit("/", 1)[-1]
        state = self.server.state
        if token not in state.uploads:
            self._error(404, "unknown upload")
            return
        state.uploads[token] = content
        self._json(200, {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self._record(body)
        path = self._path()
        if not path.startswith("/api/v1/"):
            self._error(404, f"no such endpoint: {path}")
            return
        method = path.rsplit("/", 1)[-1]
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self._error(404, f"the stand-in does not implement {path}")
            return
        if self._fail(method):
            return
        if method != "IntrospectToken" and not self._authorized():
            self._error(401, "Unauthenticated")
            return
        handler(body)

    def _fail(self, method: str) -> bool:
        """Answer with the next failure ``failures`` holds for ``method``, if any: an HTTP status, or "reset" (no answer at all)."""
        state = self.server.state
        with state._lock:
            queued = state.failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is None:
            return False
        if failure == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
            self.close_connection = True
        else:
            self._error(int(failure), {429: "Too Many Requests", 503: "Service Unavailable"}.get(int(failure), "Permission denied"))
        return True

    def _competition(self, body: dict[str, Any]) -> bool:
        """Check the competition slug the way Kaggle does: unknown is 404, rules not accepted 403."""
        state = self.server.state
        if body.get("competitionName") != state.competition:
            self._error(404, f"Competition {body.get('competitionName')!r} not found")
            return False
        if not state.rules_accepted:
            self._error(403, "You must accept this competition's rules before you'll be able to download files.")
            return False
        return True

    def _api_IntrospectToken(self, body: dict[str, Any]) -> None:
        state = self.server.state
        active = body.get("token") == state.token
        self._json(200, {"active": active, "username": state.username if active else ""})

    def _api_ListCompetitions(self, body: dict[str, Any]) -> None:
        """Kaggle's search: the competitions whose slug holds the search text (here at most the one), with their evaluation metric."""
        state = self.server.state
        found = [state.competition] if str(body.get("search", "")) in state.competition else []
        listed = [{"ref": f"https://www.kaggle.com/competitions/{slug}", "evaluationMetric": state.evaluation_metric} for slug in found]
        self._json(200, {"competitions": listed})

    def _api_DownloadDataFiles(self, body: dict[str, Any]) -> None:
        if self._competition(body):
            location = f"{BASE}/blobs/{self.server.state.competition}.zip"
            self._send(302, b"", "text/plain", {"Location": location})

    def _api_StartSubmissionUpload(self, body: dict[str, Any]) -> None:
        if self._competition(body):
            state = self.server.state
            token = f"blob-{len(state.uploads) + 1}"
            state.uploads[token] = b""
            self._json(200, {"token": token, "createUrl": f"{BASE}/uploads/{token}"})

    def _api_CreateSubmission(self, body: dict[str, Any]) -> None:
        if not self._competition(body):
            return
        state = self.server.state
        content = state.uploads.get(body.get("blobFileTokens", ""))
        if not content:
            self._error(400, "nothing was uploaded under that token")
            return
        public, private, error = state.score(content)
        ref = 1000 + len(state.submissions)
        file_name = next(r.body["fileName"] for r in reversed(state.calls("StartSubmissionUpload")))
        state.submissions.append(
            {
                "ref": ref,
                "date": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z",
                "description": body.get("submissionDescription", ""),
                "fileName": file_name,
                "publicScore": public,
                "privateScore": private,
                "status": "ERROR" if error else "COMPLETE",
                "errorDescription": error or "",
                "submittedBy": state.username,
                "totalBytes": len(content),
            }
        )
        self._json(200, {"message": "Successfully submitted to It's Corn!", "ref": ref})

    def _api_ListSubmissions(self, body: dict[str, Any]) -> None:
        if not self._competition(body):
            return
        state = self.server.state
        size = int(body.get("pageSize") or 20)
        page = int(body.get("page") or 1)
        newest_first = list(reversed(state.submissions))
        self._json(200, {"submissions": newest_first[(page - 1) * size : page * size]})

    def _api_SaveKernel(self, body: dict[str, Any]) -> None:
        state = self.server.state
        slug = body.get("slug", "")
        owner = slug.split("/", 1)[0]
        if owner != state.username:
            self._error(403, f"Permission 'kernels.create' was denied for {owner!r}")
            return
        unknown = [c for c in body.get("competitionDataSources", []) if c != state.competition]
        gpu = bool(body.get("enableGpu"))
        with state._lock:
            if gpu and state.kernel_run_s is not None and state.gpu_running() >= state.gpu_session_limit:
                state.refusals += 1
                self._json(200, {"ref": "", "url": "", "error": f"Maximum batch GPU session count of {state.gpu_session_limit} reached."})
                return
            version = state.kernels.get(slug, {}).get("version", 0) + 1
            state.kernels[slug] = {
                "version": version,
                "request": body,
                "accelerator": body.get("machineShape") or None,
                "gpu": gpu,
                "started": time.monotonic(),
            }
            state.most_gpu_running = max(state.most_gpu_running, state.gpu_running())
        if state.on_push is not None:
            state.kernel_outputs[f"{slug}/v{version}"] = state.on_push(slug, version)
        self._json(
            200,
            {
                "ref": f"/code/{slug}",
                "url": f"{BASE}/code/{slug}",
                "versionNumber": version,
                "invalidCompetitionSources": unknown,
                "kernelId": 7000 + len(state.kernels),
            },
        )

    def _kernel(self, body: dict[str, Any]) -> str | None:
        slug = f"{body.get('userName')}/{body.get('kernelSlug')}"
        if slug not in self.server.state.kernels:
            self._error(404, f"Kernel {slug} not found")
            return None
        return slug

    def _api_GetKernelSessionStatus(self, body: dict[str, Any]) -> None:
        slug = self._kernel(body)
        if slug:
            state = self.server.state
            statuses = state.kernel_statuses
            if state.kernel_run_s is not None:
                status = "RUNNING" if state.running(slug) else "ERROR" if slug in state.failing else "COMPLETE"
            else:
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            failure = {"failureMessage": "the notebook raised an exception"} if status == "ERROR" else {}
            self._json(200, {"status": status, **failure})

    def _api_ListKernelSessionOutput(self, body: dict[str, Any]) -> None:
        slug = self._kernel(body)
        if slug:
            outputs = self.server.state.kernel_outputs
            key = f"{slug}/{body['versionLabel']}" if body.get("versionLabel") and f"{slug}/{body['versionLabel']}" in outputs else slug
            served = key if key != slug else f"{slug}/latest"
            files = [{"fileName": name, "url": f"{BASE}/kernel-output/{served}/{name}"} for name in outputs.get(key, {})]
            self._json(200, {"files": files, "log": "[]"})

    def _api_GetAcceleratorQuotaStatistics(self, body: dict[str, Any]) -> None:
        state = self.server.state
        refresh = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        quota = {"timeUsed": f"{state.gpu_quota_used_s:g}s", "totalTimeAllowed": f"{state.gpu_quota_total_s:g}s"}
        self._json(200, {"quotaRefreshTime": refresh, "gpuQuota": quota})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StandinKaggle


class StandinServer:
    """The stand-in on a free loopback port, in a background thread; use as a context manager."""

    def __init__(self, state: StandinKaggle) -> None:
        self.state = state
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def proxy_url(self) -> str:
        """The value for ``HTTP_PROXY`` that routes the client's calls here."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandinServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

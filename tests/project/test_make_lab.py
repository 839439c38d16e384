"""``make lab``: a real JupyterLab server on 127.0.0.1 (as root too, as CI runs), checked through
its REST API: both project kernels are offered, and each runs a cell that imports dl_helpers
and pyspark in its own environment. The server and its kernels are gone afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / ".envs"
KERNELS = {"dl-torch": "torch", "dl-tf": "tf"}
CELL = (
    "import json, sys\nimport dl_helpers, pyspark\n"
    "print(json.dumps({'python': sys.executable, 'dl_helpers': dl_helpers.__file__, "
    "'pyspark': pyspark.__version__}))"
)


def _missing() -> str | None:
    if shutil.which("make") is None:
        return "no make"
    if not (ENVS / "torch" / "bin" / "jupyter-lab").exists():
        return "jupyterlab is not installed in .envs/torch (make envs)"
    for name, env in KERNELS.items():
        if not (ENVS / env / "share" / "jupyter" / "kernels" / name / "kernel.json").exists():
            return f"kernel {name} is not registered in .envs/{env} (make envs)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"
        self.token = token

    def api(self, method: str, path: str, body=None, timeout=30.0):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    async def execute(self, kernel_id: str, code: str, timeout: float) -> dict:
        """Run ``code`` over the kernel's websocket; its stdout, and the reply's status."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = f"{self.ws}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        req = HTTPRequest(url, headers={"Authorization": f"token {self.token}"})
        conn = await asyncio.wait_for(websocket_connect(req), timeout)
        msg_id = uuid.uuid4().hex
        conn.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        out, errors, reply, idle = [], [], None, False
        deadline = time.monotonic() + timeout
        try:
            while reply is None or not idle:
                raw = await asyncio.wait_for(conn.read_message(), deadline - time.monotonic())
                if raw is None:
                    raise AssertionError("the kernel's websocket closed before the reply")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream" and content["name"] == "stdout":
                    out.append(content["text"])
                elif kind == "error":
                    errors.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "execute_reply":
                    reply = content["status"]
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
        finally:
            conn.close()
        return {"status": reply, "stdout": "".join(out), "errors": errors}


def _alive(pids) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_make_lab_offers_both_kernels_and_runs_them(tmp_path):
    import psutil

    port, token = _free_port(), secrets.token_hex(16)
    # The user's own Jupyter folders (config, kernels, runtime files) stay out of it.
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
    )
    lab_args = f"--no-browser --IdentityProvider.token={token} --ServerApp.port_retries=0"
    # The environments exist (the skip above): their stamps are not remade here (-o), so this
    # tests the lab target itself, not the environment build.
    cmd = [
        "make",
        "-s",
        "-o",
        ".envs/torch/.installed",
        "-o",
        ".envs/tf/.installed",
        "lab",
        f"LAB_PORT={port}",
        f"LAB_ARGS={lab_args}",
    ]
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    lab = Lab(port, token)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"make lab exited {proc.returncode}:\n"
                    f"{(tmp_path / 'lab.log').read_text()[-3000:]}"
                )
            try:
                status = lab.api("GET", "/api/status", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not answer within 120 s") from None
                time.sleep(0.5)
        assert "started" in status
        # Bound to loopback only: the server's socket listens on 127.0.0.1.
        server = psutil.Process(proc.pid).children(recursive=True)
        listening = {
            c.laddr.ip
            for p in [psutil.Process(proc.pid), *server]
            for c in p.net_connections("tcp")
            if c.status == "LISTEN" and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}, listening

        specs = lab.api("GET", "/api/kernelspecs")["kernelspecs"]
        assert set(KERNELS) <= set(specs), sorted(specs)
        for name, env_name in KERNELS.items():
            kernel = lab.api("POST", "/api/kernels", {"name": name})
            seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            result = asyncio.run(lab.execute(kernel["id"], CELL, timeout=180))
            assert result["status"] == "ok", result
            info = json.loads(result["stdout"].strip().splitlines()[-1])
            env_dir = Path(info["python"]).parent.parent.resolve()
            assert env_dir == (ENVS / env_name).resolve()  # the kernel runs its own environment
            assert Path(info["dl_helpers"]).resolve().is_relative_to(ROOT.resolve())
            assert int(info["pyspark"].split(".")[0]) >= 3
            lab.api("DELETE", f"/api/kernels/{kernel['id']}")
        assert lab.api("GET", "/api/kernels") == []
        seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    finally:
        seen |= {proc.pid}
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # make, jupyter lab and any kernel left
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
    deadline = time.monotonic() + 20
    while _alive(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    leaked = _alive(seen)
    for pid in leaked:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert leaked == [], "processes of the lab outlived it"
    with socket.socket() as s:  # nothing listens on the port any more (closed ones may linger)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()

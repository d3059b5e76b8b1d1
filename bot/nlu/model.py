"""The NLU model's build and server: train when the data changed, run `rasa run` as a child.

The model file is named after a hash of `nlu/config.yml`, `nlu/data/*.yml` and our
components (`nlu/doorstep_nlu/*.py`), so a model is trained once per version of them
(`make run` and `make test` call `doorstep nlu build`, which does nothing when the file
exists).
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "nlu"
RASA_VENV = ROOT / ".venv-rasa"


# One thread per pool (benchmarks/nlu.py starts its server with the same).
SERVING_THREADS = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "DOORSTEP_NLU_THREADS": "1",
}


class NLUBuildError(RuntimeError):
    """Rasa is not installed, or training / serving failed; the message says which."""


def model_hash(nlu_dir: Path = NLU_DIR) -> str:
    """A hash of everything the model is trained from: the pipeline, the data, our
    components and the Rasa virtualenv's pinned requirements (a model trained by
    another Rasa or TensorFlow may not load)."""
    digest = hashlib.sha256()
    paths = [
        nlu_dir / "config.yml",
        *sorted((nlu_dir / "data").glob("*.yml")),
        *sorted((nlu_dir / "doorstep_nlu").glob("*.py")),
        *sorted(nlu_dir.glob("requirements*.txt")),
    ]
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_cache() -> Path:
    """Where trained models are kept, outside the checkout: a fresh clone (or CI) with
    the same inputs reuses the model instead of training it again."""
    configured = os.environ.get("DOORSTEP_MODEL_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "doorstep" / "nlu-models"


def model_path(nlu_dir: Path = NLU_DIR) -> Path:
    return model_cache() / f"doorstep-{model_hash(nlu_dir)}.tar.gz"


def training_log(nlu_dir: Path = NLU_DIR) -> Path:
    """Where the training of the current inputs writes Rasa's output."""
    return model_cache() / f"doorstep-{model_hash(nlu_dir)}.train.log"


def rasa_binary() -> Path:
    binary = Path(os.environ.get("RASA_BIN", RASA_VENV / "bin" / "rasa"))
    if not binary.exists():
        raise NLUBuildError(f"Rasa is not installed at {binary} (run `make nlu-model`)")
    return binary


def ensure_model(nlu_dir: Path = NLU_DIR, keep: int = 6) -> Path:
    """The trained model for the current inputs, training it first if needed (20-40
    minutes on 2 cores: README, "Understanding replies").

    Trained under a temporary name and renamed when complete, so another checkout
    sharing the cache never loads half a file; the `keep` newest models stay (several
    branches may be in use), older ones are removed.
    """
    path = model_path(nlu_dir)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # No dot in it: Rasa would take what follows one for a file extension.
    partial = f"{path.name.removesuffix('.tar.gz')}-training-{os.getpid()}"
    cmd = [
        str(rasa_binary()),
        "train",
        "nlu",
        "--config",
        str(nlu_dir / "config.yml"),
        "--nlu",
        str(nlu_dir / "data"),
        "--out",
        str(path.parent),
        "--fixed-model-name",
        partial,
    ]
    # Rasa's own output (each component, DIET's epochs with their times) goes to a log
    # beside the model: a build of many minutes can be followed, and a failure read.
    log_path = training_log(nlu_dir)
    with open(log_path, "wb") as log:
        result = subprocess.run(  # noqa: S603
            cmd, cwd=nlu_dir, stdout=log, stderr=subprocess.STDOUT, check=False, env=rasa_env()
        )
    trained = path.parent / f"{partial}.tar.gz"
    if result.returncode != 0 or not trained.exists():
        trained.unlink(missing_ok=True)
        tail = log_path.read_bytes()[-4000:].decode(errors="replace")
        raise NLUBuildError(f"rasa train failed (the whole output: {log_path}):\n{tail}")
    os.replace(trained, path)
    models = sorted(path.parent.glob("doorstep-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    for old in models[:-keep]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def rasa_env(serving: bool = False) -> dict[str, str]:
    """The environment every Rasa process we start runs in.

    Telemetry and error reporting off: customers' words and our model's details must
    not leave the deployment (Rasa reports usage to its servers unless told not to).
    A serving process runs TensorFlow, OpenMP and ONNX Runtime (`DOORSTEP_NLU_THREADS`)
    on one thread each: a parse is a short message, and their default pools spin on
    every core for it (35-50 ms of CPU for 13 ms of wall time). More throughput comes
    from more Rasa processes (RASA_URL takes several). Values already in the
    environment win."""
    env = os.environ | {"RASA_TELEMETRY_ENABLED": "false"}
    if serving:
        for name, value in SERVING_THREADS.items():
            env.setdefault(name, value)
    return env


@dataclass
class RasaServer:
    """A `rasa run --enable-api` child process with its own auth token."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None
    log_path: Path | None = None

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's own output: why it exited or is not ready yet."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()


def unclaimed_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that binds late.

    `rasa run` binds its port 30-70 s after it starts (after loading the model). A port
    from `bind(("", 0))` comes from the ephemeral range, the one the kernel also hands
    to every outgoing connection and to every other "free port" asked for meanwhile, so
    on a busy machine the port was sometimes taken by the time Rasa bound it, and the
    server exited. Ports below that range are handed out by nobody but this function.
    """
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise NLUBuildError(f"no free port between 20000 and {low}")


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return max(20001, int(text.split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768


def start_server(
    model: Path, port: int | None = None, token: str | None = None, log_path: Path | None = None
) -> RasaServer:
    token = token or secrets.token_urlsafe(16)
    port = port or unclaimed_port()
    log = open(log_path, "wb") if log_path else None  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(  # noqa: S603
        [
            str(rasa_binary()),
            "run",
            "--enable-api",
            "--auth-token",
            token,
            "--model",
            str(model),
            "--port",
            str(port),
            "--interface",
            "127.0.0.1",
        ],
        cwd=NLU_DIR,
        env=rasa_env(serving=True),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return RasaServer(f"http://127.0.0.1:{port}", token, proc, log, log_path)


def wait_ready(server: RasaServer, timeout_s: float = 180.0) -> None:
    """Block until the server has its model loaded (about 20-40 s after start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise NLUBuildError(
                f"rasa run exited with {server.process.returncode}; its log ends:\n"
                + server.log_tail()
            )
        try:
            url = f"{server.url}/status?token={server.token}"
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local URL
                if resp.status == 200 and b"model_file" in resp.read():
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise NLUBuildError(
        f"Rasa did not become ready within {timeout_s:.0f} s; its log ends:\n" + server.log_tail()
    )

"""`vireo serve --port 0` on loopback for the gRPC suites (Tests/e2e_pymilvus, Tests/e2e_frameworks): starts the
binary, waits for its `vireo: listening on http://HOST:PORT` line and keeps stderr in a log file. Plain Python, no
client imports, so every suite's venv can use it; the suites put this folder on sys.path."""
import os
import pathlib
import select
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("VIREO_BIN", ROOT / ".build/release/vireo"))


class VireoServer:
    def __init__(self, data_dir, *extra, log_prefix="vireo-grpc-"):
        self.log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False)
        assert BIN.exists(), f"{BIN} is missing: build it with `swift test -c release` (scripts/test.sh)"
        self.proc = subprocess.Popen([str(BIN), "serve", "--data", str(data_dir), "--host", "127.0.0.1", "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if "listening on" in line:
                    self.uri = line.split("listening on ")[1].split()[0]
                    return
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"vireo serve did not start: {pathlib.Path(self.log.name).read_text()}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)

"""A bounded schemathesis run over /openapi.json: no request it generates gets a 5xx."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import Server

MAX_EXAMPLES = os.environ.get("VIREO_SCHEMATHESIS_EXAMPLES", "15")


def test_schemathesis_finds_no_server_errors(tmp_path):
    exe = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or shutil.which("st", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.fail("schemathesis is not installed in this venv (scripts/test.sh installs it)")
    s = Server(tmp_path / "data").start()
    try:
        c = s.client()
        # Something to hit besides missing collections.
        c.ok("collections/create", {"collectionName": "fuzz", "dimension": 4})
        c.ok("entities/insert", {"collectionName": "fuzz", "data": [{"id": i, "vector": [1, i, 0, 0]} for i in range(10)]})
        p = subprocess.run([exe, "run", f"{s.base}/openapi.json", "--checks", "not_a_server_error",
                            "--max-examples", MAX_EXAMPLES, "--max-time", os.environ.get("VIREO_SCHEMATHESIS_SECONDS", "60"), "--seed", "20240601",
                            "--phases", "examples,coverage,fuzzing", "--workers", "2"],
                           capture_output=True, text=True, timeout=600)
        print(p.stdout[-4000:], p.stderr[-2000:])
        assert p.returncode == 0, p.stdout[-4000:]
        assert s.proc.poll() is None, "the server died during the run"
        assert c.count("fuzz") >= 0
    finally:
        s.stop()

"""No secret is committed: every tracked text file is scanned for the shapes credentials take.

Secrets come from the environment, Airflow connections or a secrets backend; examples in the docs use
placeholders (`user:pass`, `${VAR}`, `<password>`), which the scan accepts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T\w+/B\w+/\w+"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?![$<{])([^@\s/'\"]{3,})@"),
    "secret assigned": re.compile(r"(?i)\b(?:fernet_key|jwt_secret|secret_key|password|aws_secret_access_key)\b"
                                  r"\s*[=:]\s*['\"]?(?![$<{])([A-Za-z0-9+/_\-]{12,})"),
}
PLACEHOLDERS = {"pass", "password", "secret", "changeme"}


def find_secrets(root: Path, files: list[str]) -> list[str]:
    """`file:line: kind` for every credential-shaped string in the text files."""
    found = []
    for name in files:
        try:
            text = (root / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue  # binary test data (gzip, parquet, PNG)
        for kind, shape in SHAPES.items():
            for match in shape.finditer(text):
                if match.groups() and match[1].lower() in PLACEHOLDERS:
                    continue
                found.append(f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {kind}")
    return found


def test_no_secret_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert find_secrets(ROOT, tracked.split()) == []


def test_the_scan_finds_each_kind_of_secret(tmp_path):
    # Assembled at run time, so this file itself holds no secret's shape.
    planted = {
        "aws.env": "AWS_ACCESS_KEY_ID=AKIA" + "Q" * 16,
        "key.pem": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "alerts.yaml": "url: https://hooks.slack.com/services/" + "T0000/B0000/abcdef123",
        "db.py": 'URI = "postgresql://nightshift:' + 'hunter2hunter2@db/airflow"',
        "airflow.cfg": "fernet_key = " + "x1y2z3" * 5,
        "docs.md": "postgresql://user:pass@host/db and ${POSTGRES_PASSWORD}",  # placeholders only
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    assert find_secrets(tmp_path, sorted(planted)) == [
        "airflow.cfg:1: secret assigned", "alerts.yaml:1: Slack webhook", "aws.env:1: AWS access key id",
        "db.py:1: password in a URL", "key.pem:1: private key"]

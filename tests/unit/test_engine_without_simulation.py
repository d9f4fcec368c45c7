"""The engine runs without the simulation package; a `connection: sim` host then says what is missing.

The simulation is found by import path (`engine.connect.sim.SIMULATOR`), so each test blocks
that import in a fresh interpreter (or in this one, for the one module) as if the package were
not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.connect import connection_for
from engine.core.errors import UserError
from engine.core.model import Host
from tests.support.runs import REPO, local_inventory, write_yaml

#: Makes `import simulation...` fail as it does when the package is not installed.
BLOCK = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoSimulation(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "simulation" or name.startswith("simulation."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoSimulation())
    """
)


def run_without_simulation(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


def test_a_run_on_real_hosts_never_imports_the_simulation(tmp_path: Path) -> None:
    inventory = local_inventory(tmp_path / "inventory.yml", ["box"])
    playbook = write_yaml(
        tmp_path / "play.yml",
        [{"name": "Say hello", "hosts": "box", "tasks": [{"name": "hello", "debug": {"msg": "hi"}}]}],
    )
    code = f"""
        from engine.cli import main
        rc = main(["run", {str(playbook)!r}, "-i", {str(inventory)!r}, "--no-report"])
        print("rc", rc, "simulation loaded:", any(m.split(".")[0] == "simulation" for m in sys.modules))
    """
    done = run_without_simulation(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "rc 0 simulation loaded: False"


def test_a_sim_host_without_the_simulation_is_a_plain_user_error(tmp_path: Path) -> None:
    code = f"""
        from engine.connect import connection_for
        from engine.core.errors import UserError
        from engine.core.model import Host

        conn = connection_for(Host("web1", "web1", "sim", settings={{"sim": {{"initial": {{}}}}}}),
                              state_dir={str(tmp_path)!r})
        assert (conn.platform, conn.simulated) == ("windows", True)  # known without the simulation
        try:
            conn.open()
        except UserError as exc:
            print(exc.render())
    """
    done = run_without_simulation(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "host web1: `connection: sim` needs the simulation (simulation.host), which is not installed" in (
        done.stdout
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "sim").exists()  # nothing half-done


def test_the_simulator_is_an_import_path_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.connect import sim

    monkeypatch.setattr(sim, "SIMULATOR", "tests.support.no_such_simulation:SimHost")
    conn = connection_for(Host("web1", "web1", "sim", settings={"sim": {}}), state_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"needs the simulation \(tests.support.no_such_simulation\)"):
        conn.open()
    monkeypatch.setattr(sim, "SIMULATOR", "simulation.host:NoSuchClass")
    with pytest.raises(UserError, match="simulation.host has no NoSuchClass"):
        conn.open()


def test_a_run_on_sim_hosts_without_the_simulation_is_refused_before_any_step(tmp_path: Path) -> None:
    """Exit 2 and one located line per simulated host, before the run starts: nothing journaled as run."""
    inventory = write_yaml(tmp_path / "inventory.yml", {
        "estate": "nosim",
        "hosts": {"web1": {"connection": "sim"}, "web2": {"connection": "sim"}},
    })
    playbook = write_yaml(
        tmp_path / "play.yml",
        [{"name": "Say hello", "hosts": "all", "tasks": [{"name": "hello", "win_stat": {"path": "C:/x"}}]}],
    )
    code = f"""
        from engine.cli import main
        rc = main(["run", {str(playbook)!r}, "-i", {str(inventory)!r}, "--no-report",
                   "--state-dir", {str(tmp_path / "state")!r}])
        print("rc", rc)
    """
    done = run_without_simulation(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "rc 2"
    for host, line in (("web1", 3), ("web2", 5)):
        assert f"inventory.yml:{line}:" in done.stderr and f"host {host}: `connection: sim` needs the simulation" in (
            done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "state" / "sim").exists()

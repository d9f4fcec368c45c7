"""`engine.db` loads its parts on first use: reading an inventory's targets costs no connection code."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.runs import REPO


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('engine.db'))))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_target_from_needs_only_the_target_module() -> None:
    loaded = _loaded_after("from engine.db import target_from")

    assert "engine.db.target" in loaded
    assert not {"engine.db.checksums", "engine.db.catalog", "engine.db.database"} & set(loaded)


def test_every_public_name_is_still_there() -> None:
    import engine.db
    from engine.db import checksums, database, dialects, errors, target

    for name in engine.db.__all__:
        value = getattr(engine.db, name)
        assert any(
            getattr(module, name, None) is value for module in (checksums, database, dialects, errors, target)
        )

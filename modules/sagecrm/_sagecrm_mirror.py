"""A test estate restored from its live estate's backups (the guide's test upgrade, chapter 8).

The test estate's inventory says `sagecrm.mirror_of: <live inventory>`; its servers pair with
the live ones (`mirror_hosts`, else by position). A live backup run (`backup.yml` on the live
estate) recorded verified artifacts for the LIVE servers; `crm_restore source: mirror` on a
test server finds the artifact of its live twin, makes sure the file is on the test server
with the recorded sha256 (copying it from the live server through the controller when it is
not: the live server is only read, through the run's connection pool), and then records it as a backup of the TEST server's
resource, so the restoring modules' own checks (an intact verified backup of what they
overwrite) hold. Copy through the controller is for moderate sizes; put larger backups on a
share both estates reach, at the same path, and nothing is copied.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

from engine.api.inventories import load_inventory
from engine.api.module import Artifact, ModuleFailed, TaskContext
from engine.core.errors import UserError
from modules._common import call, digest
from modules.sagecrm.product.estate import Estate, estate_of
from modules.sagecrm.product.rules import mirror_pairs

#: largest backup file copied through the controller (bigger ones: a share at the same path)
COPY_LIMIT = 512 << 20


def live_estate(est: Estate) -> Estate:
    """The live estate the test estate mirrors."""
    mirror = est.setting("mirror_of")
    if not mirror:
        raise ModuleFailed("source: mirror needs sagecrm.mirror_of (the live estate's inventory)")
    path = Path(est.inventory.path).parent / str(mirror)
    try:
        live = estate_of(load_inventory(path))
    except UserError as err:
        raise ModuleFailed(f"the live estate {path} does not load: {err.problems[0].message}") from None
    if live is None:
        raise ModuleFailed(f"{path} has no sagecrm: section")
    return live


def twin(test: Estate, live: Estate, host: str) -> str:
    """The live server a test server mirrors."""
    for ours, theirs in mirror_pairs(test, live):
        if ours == host:
            return theirs
    raise ModuleFailed(f"{host} has no live twin in {live.inventory.path}")


def live_artifact(ctx: TaskContext, resource: str, host: str | None, kind: str) -> Artifact:
    """The first verified artifact of a live resource in the run named with --from-run (any host: None)."""
    found = sorted(
        (
            a
            for a in ctx.run.prior_artifacts.get(resource, [])
            if a.verified and a.kind == kind and a.host in (None, host)
        ),
        key=lambda a: a.taken_at,
    )
    if not found:
        raise ModuleFailed(f"no verified {kind} of {resource} in the live run named with --from-run")
    return found[0]


def bring(ctx: TaskContext, live: Estate, live_host: str, artifact: Artifact) -> None:
    """Make the artifact's file present on this (test) server with the recorded sha256."""
    remote = ctx.require_remote()
    if digest(remote, artifact.location) == artifact.sha256:
        return
    if ctx.check_mode:
        return
    if (artifact.size or 0) > COPY_LIMIT:
        raise ModuleFailed(
            f"{artifact.location} is {artifact.size} bytes: copy it to {ctx.host.name} at the "
            "same path (or use a share both estates reach), then run again"
        )
    data = call(ctx.remote_for(live.inventory.hosts[live_host]), "file.read", path=artifact.location)
    content = base64.b64decode(data["content_b64"])
    folder = artifact.location.rsplit("\\", 1)[0]
    call(remote, "file.mkdir", path=folder, parents=True)
    call(remote, "file.write", path=artifact.location, content_b64=data["content_b64"])
    if digest(remote, artifact.location) != artifact.sha256 or len(content) != (
        artifact.size or len(content)
    ):
        raise ModuleFailed(f"{artifact.location} copied from {live_host} does not have the recorded sha256")


def as_test_backup(ctx: TaskContext, artifact: Artifact, resource: str) -> Artifact:
    """The live backup, now verified on this server, recorded for the test server's resource."""
    mirrored = dataclasses.replace(
        artifact,
        resource=resource,
        host=ctx.host.name if artifact.host is not None else None,
        meta={
            **artifact.meta,
            "mirrored_from": f"{artifact.host}:{artifact.location}",
            "kind_of": artifact.kind,
        },
    )
    ctx.run.artifacts.setdefault(resource, []).append(mirrored)
    return mirrored

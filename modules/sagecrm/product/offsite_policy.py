"""The plan's warning when a Sage CRM estate keeps its backups only on the servers it upgrades.

Why a warning and not a refusal: the backups are verified and the rollback works without a copy
elsewhere; what is lost is the guide's protection against losing the server itself
(sagecrm-upgrade-guide-fr.txt, "Pourquoi effectuer des sauvegardes manuelles ?"). So the plan
notes it (printed by `cutover plan`, `validate` and `run`), at the inventory's `sagecrm:` section,
with the guide's sentence and the setting that answers it (`sagecrm.backup_copy`).
"""

from __future__ import annotations

from engine.api.policies import PlanView, PolicyContext
from engine.core.errors import Problem
from modules.sagecrm.product.estate import estate_of

#: the guide's own words (chapter "Pourquoi effectuer des sauvegardes manuelles ?")
GUIDE = (
    "« Préserver un ensemble complet du système, de la base de données et des fichiers de registre, "
    "pouvant être stocké de façon complètement indépendante de l'environnement de mise à jour »"
)
BACKUP_MODULES = ("crm_backup",)


def backups_off_servers(plan: PlanView, ctx: PolicyContext) -> list[Problem]:
    """A note (`warning: ...`) when the plan backs up Sage CRM servers with no `sagecrm.backup_copy`."""
    estate = estate_of(plan.inventory)
    if estate is None or estate.setting("backup_copy"):
        return []
    hosts = sorted(
        {str(n.host) for n in plan.steps() if n.task is not None and n.task.module in BACKUP_MODULES}
    )
    if not hosts:
        return []
    where = estate.location()
    ctx.notes.append(
        f"warning: {where}: sagecrm: the backups stay only on the servers being upgraded "
        f"({', '.join(hosts)}); the guide asks for a backup {GUIDE}. Set sagecrm.backup_copy to a UNC "
        "folder (\\\\nas\\crm-backups\\<estate>) or `controller` so each backup is copied off the "
        "servers and verified there"
    )
    return []

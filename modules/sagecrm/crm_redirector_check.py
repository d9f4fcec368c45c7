"""Chapter 13 of the upgrade guide: the redirector's rewrite rules answer (SData, dashboard).

The guide: "si Sage CRM 7,2 est installée après CRM 7,3, cette version remplacera les paramètres
SData dans IIS, et supprimera les règles du réécrivain pour l'installation Sage CRM 7,3", and its
fix: run the 7.3 installer again and choose "Modifier l'installation existante". EWARE.DLL still
answers then; what breaks is what IIS forwards to Tomcat. So this module GETs, on each web
server, the URLs that go through those rules:

- SData: `http://<server>/sdata/<install>j/sagecrm/-/$schema`, the form Sage CRM documents
  (https://help.sagecrm.com/on_premise/en/2024R2/Dev/Content/Developer/SD_URLs.htm:
  "http://<Server>/sdata/<InstallName>j/sagecrm/-/<Target>", "append j after the install name");
- the interactive dashboard's layout service, `/sdata/<install>j/layout/-/$service/` (the form
  named in https://kb.crmtogether.com/index.php?oldid=83&title=Tomcat; not in Sage's own
  reference, so it is the default of the inventory setting `sagecrm.redirector.dashboard_path`).

A 404 means no rule forwards the URL (the case of chapter 13), a 502 that Tomcat does not answer
behind it; 401 is accepted: the request reached Tomcat, which asks for credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, Result, TaskContext
from modules._common import object_schema
from modules.sagecrm import _sagecrm as crm
from modules.sagecrm.product.estate import Estate
from modules.web.http_check import get, verdict

SDATA_PATH = "/sdata/{install}j/sagecrm/-/$schema"
DASHBOARD_PATH = "/sdata/{install}j/layout/-/$service/"
#: 200, or 401 from Tomcat (SData asks for credentials): either way the rewrite rule forwarded it
REACHED = [200, 401]
FIX = (
    "chapter 13 of the upgrade guide: another Sage CRM version installed after this one replaced "
    "the SData settings in IIS and removed its rewrite rules; run the Sage CRM {version} installer "
    "again, choose « Modifier l'installation existante » and select the {version} installation "
    "({install}): the IIS rewrite rules for SData are recreated"
)


def urls(est: Estate) -> dict[str, str]:
    """name -> URL on the server itself, from the inventory's paths (or the defaults)."""
    paths = {
        "sdata": str(est.setting("redirector", "sdata_path", default=SDATA_PATH)),
        "dashboard": str(est.setting("redirector", "dashboard_path", default=DASHBOARD_PATH)),
    }
    return {k: "http://localhost/" + p.format(install=est.install_name).lstrip("/") for k, p in paths.items()}


class CrmRedirectorCheck(Module):
    """GET the SData and dashboard URLs on a web server; failed, with the guide's fix, if one does not answer."""

    platforms: ClassVar[frozenset[str]] = frozenset({"windows"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "Check that the redirector's rewrite rules answer (SData and dashboard URLs), chapter 13.",
        {
            "expect": {
                "type": "string",
                "minLength": 1,
                "description": "Version the fix names (default target).",
            }
        },
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        est = crm.estate(ctx)
        if "web" not in est.roles.get(ctx.host.name, ()):
            return Result(skipped=True, msg=f"{ctx.host.name} is not a web server")
        answers: dict[str, Any] = {}
        broken: list[str] = []
        for name, url in urls(est).items():
            answer = get(ctx, {"url": url, "timeout": 10})
            problem = verdict(answer, {"status": REACHED})
            answers[name] = {"url": url, "status": answer.get("status")}
            if problem is not None:
                broken.append(f"{name} {url}: {problem}")
        if not broken:
            return Result(
                changed=False, msg="SData and dashboard answer through the rewrite rules", output=answers
            )
        fix = FIX.format(version=args.get("expect") or est.target_version, install=est.install_name)
        return Result(failed=True, msg=f"{ctx.host.name}: {'; '.join(broken)}. Fix, {fix}", output=answers)

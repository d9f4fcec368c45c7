"""The stages put together, top to bottom: load -> plan -> validate -> execute (journaled) -> report.

```
 Sources ──load_sources──> Loaded ──make_plan──> Plan ──validate_plan──> (cutover validate)
                                                   │
                                                   └──execute_plan──> RunSummary (journal) ──> reports
```

`stages.py` holds one function per stage; `flows.py` what each command does with them (`plan`,
`validate`, `run`, `resume`); `on_failure.py` the rollback a failed run may ask for. The CLI
(engine/cli/) only turns flags into `Sources` and `RunSettings` and prints what comes back.
"""

from engine.pipeline.flows import plan, resume, roll_back, run, validate
from engine.pipeline.stages import (
    Loaded,
    RunSettings,
    Sources,
    execute_plan,
    load_sources,
    make_plan,
    validate_plan,
    write_reports,
)

__all__ = [
    "Loaded",
    "RunSettings",
    "Sources",
    "execute_plan",
    "load_sources",
    "make_plan",
    "plan",
    "resume",
    "roll_back",
    "run",
    "validate",
    "validate_plan",
    "write_reports",
]

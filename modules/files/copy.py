"""Put a file on the host: inline `content` or a controller file `src`, written only when it differs.

The sha256 of what is there is compared with the sha256 of what should be there, so a second
identical run reports `ok` without sending the bytes again. Text changes are shown as a unified
diff (`--diff`, check mode). `backup: true` keeps the old file as a verified `file_backup`
artifact before it is overwritten.

Destructive: overwriting loses the old content. With `backup: true` the module protects itself
(the copy is verified by sha256 before anything is written), so `destroys()` is empty and
`protects()` names the file; without it `destroys()` names the file and the planner asks for a
verified backup upstream (an `archive` of a folder holding it).
A `dest` that ends with `/` or is an existing folder receives `src` under its own file name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from modules.files._content import ContentModule, content_schema


class Copy(ContentModule):
    """Exact bytes at `dest`; `src` is read on the controller, relative to the playbook."""

    schema: ClassVar[dict[str, Any]] = content_schema(
        "Copy a controller file or inline content to a file on the host.",
        src="File on the controller, relative to the playbook's folder.",
        content="The file's content, as text (UTF-8).",
    )

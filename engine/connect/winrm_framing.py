"""The byte protocol between the controller and the PowerShell helper on a Windows host.

The helper is `powershell.exe -NoProfile -NonInteractive -EncodedCommand <BOOTSTRAP_SCRIPT>`,
started with WinRM's `skip_cmd_shell` so cmd.exe (and its ~8 KB command-line limit) is never
involved. Everything large travels over the process's stdin, never on the command line.

stdin (controller -> helper), one line per message, lines end with LF:
  1. base64(UTF-8 text of the primitives script, engine/connect/remote/powershell/ joined):
     the helper checks the host (see FRAME_REFUSED_PREFIX below), then dot-sources it once;
  2. base64(UTF-8 JSON `[{"op", "args"}, ...]`): one line per batch, as often as needed;
  3. `>` + base64(UTF-8 JSON {path, offset, length, final}) then exactly `length` RAW bytes: a
     segment of a file transfer (`encode_receive`); the helper writes the bytes to `path` from
     `offset` while hashing them (sha256) and answers one `@@CUTOVER@@` frame holding ONE answer
     `{"ok", "value": {size, sha256 (final only)}}`. The raw bytes are the only encoding the file's
     content gets besides the base64 WS-Management puts around every stdin piece (MS-WSMV
     3.1.4.1.31.1 I/O Streams: "Each MUST be encoded by using base64binary"), so a transfer
     costs 4/3 of its size on the wire, not the (4/3)^3 of a `file.write` batch. With `start`
     (a range of a file sent as several ranges at once, each by its own helper): the file is
     shared with the other helpers, cut to `total` bytes when longer, the segment is written at
     `offset` without truncating, the hash covers the range from `start`, and after each segment the helper writes the range's
     end reached so far (ASCII decimal) to the checkpoint file `path`.r`start` (removed with the
     final segment), which a later attempt reads to resume the range (`range_checkpoint`);
  4. an empty line, or the end of stdin: the helper exits.
stdout (helper -> controller), one line per batch, CRLF or LF:
  `@@CUTOVER@@` + base64(UTF-8 JSON answers)      the batch's answers, one per call, in order;
  `@@CUTOVER-ERROR@@` + base64(UTF-8 message)     the batch (or loading the script) failed as a
                                                   whole; the helper may exit after it;
  `@@CUTOVER-PROGRESS@@` + base64(UTF-8 JSON      interim, while a long call runs (the last line of
      {"op", "line"})                              a program's log, process.run `progress_log`):
                                                   any number before the batch's answer, passed
                                                   to the connection's `on_progress`;
  `@@CUTOVER-REFUSED@@` + base64(UTF-8 JSON       the host is below the minimum Windows PowerShell
      {"powershell", "dotnet_release"})            or .NET Framework (engine/connect/
                                                   winrm_requirements.py): the script was not
                                                   loaded, and every batch gets this answer until
                                                   stdin ends (so no Send meets a closed pipe).
Any other stdout line is noise (a stray Write-Host) and is ignored. base64 keeps the frames
pure ASCII, so neither the console code page nor PowerShell's output encoding can damage
accents in French or German paths, and a frame cannot be confused with the noise around it.

The helper reads stdin as bytes (`[Console]::OpenStandardInput()`, its own line splitting),
never through `[Console]::In`: a TextReader buffers ahead and would swallow the raw bytes
that follow a transfer line.

The same bootstrap serves both modes: the persistent helper keeps reading batches; the
fallback (one process per batch) sends the script and one batch, then closes stdin.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.connect.winrm_requirements import MIN_DOTNET_RELEASE, MIN_POWERSHELL
from engine.core.errors import RemoteError

FRAME_PREFIX = b"@@CUTOVER@@"
FRAME_ERROR_PREFIX = b"@@CUTOVER-ERROR@@"
FRAME_REFUSED_PREFIX = b"@@CUTOVER-REFUSED@@"
FRAME_PROGRESS_PREFIX = b"@@CUTOVER-PROGRESS@@"
#: First byte of a transfer line (stdin message 3 above); no base64 line starts with it.
RECEIVE_PREFIX = b">"
POWERSHELL = "powershell.exe"
#: Largest stdin piece per WS-Man Send: base64 makes it ~137 KB, under the 150 KB
#: MaxEnvelopeSize of older Windows defaults (500 KB on current ones).
MAX_SEND_CHUNK = 100 * 1024
#: Smallest piece the connection falls back to when a server's MaxEnvelopeSize is tiny.
MIN_SEND_CHUNK = 8 * 1024

#: The helper's own code, sent as -EncodedCommand. It must run on any PowerShell from 2.0 on
#: (Windows Server 2008 R2), because it is what tells an operator that a host is too old: the
#: version check comes before the primitives (5.1 only) are loaded. Minimums are filled in below.
_BOOTSTRAP_TEMPLATE = """\
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
$writer = [Console]::Out
function Send-CutoverFrame([string]$Prefix, [string]$Text) {
    $writer.WriteLine($Prefix + [Convert]::ToBase64String($utf8.GetBytes($Text)))
    $writer.Flush()
}
# stdin as bytes with its own buffer: ReadLine for the lines (ASCII), ReadBytes for the raw bytes
# of a transfer that follow a line (what ReadLine buffered first).
$CutoverStdin = New-Object PSObject
Add-Member -InputObject $CutoverStdin NoteProperty Stream ([Console]::OpenStandardInput())
Add-Member -InputObject $CutoverStdin NoteProperty Buffer (New-Object byte[] 65536)
Add-Member -InputObject $CutoverStdin NoteProperty At 0
Add-Member -InputObject $CutoverStdin NoteProperty End 0
Add-Member -InputObject $CutoverStdin ScriptMethod ReadLine {
    $line = New-Object System.IO.MemoryStream
    while ($true) {
        if ($this.At -ge $this.End) {
            $this.At = 0
            $this.End = $this.Stream.Read($this.Buffer, 0, $this.Buffer.Length)
            if ($this.End -le 0) {
                $this.End = 0
                if ($line.Length -eq 0) { return $null }
                break
            }
        }
        $found = [Array]::IndexOf($this.Buffer, [byte]10, $this.At, $this.End - $this.At)
        if ($found -lt 0) {
            $line.Write($this.Buffer, $this.At, $this.End - $this.At)
            $this.At = $this.End
        } else {
            $line.Write($this.Buffer, $this.At, $found - $this.At)
            $this.At = $found + 1
            break
        }
    }
    return [System.Text.Encoding]::ASCII.GetString($line.ToArray()).TrimEnd([char]13)
}
Add-Member -InputObject $CutoverStdin ScriptMethod ReadBytes {
    param([byte[]]$Into, [int]$Count)
    if ($this.At -lt $this.End) {
        $n = [Math]::Min($Count, $this.End - $this.At)
        [Array]::Copy($this.Buffer, $this.At, $Into, 0, $n)
        $this.At += $n
        return $n
    }
    return $this.Stream.Read($Into, 0, $Count)
}
$first = $CutoverStdin.ReadLine()
if ([string]::IsNullOrEmpty($first)) { exit 2 }
$found = '1.0'
$older = $true
if ($PSVersionTable) {
    $version = $PSVersionTable.PSVersion
    $found = [string]$version
    $older = [version]('{0}.{1}' -f $version.Major, $version.Minor) -lt [version]'@MIN_POWERSHELL@'
}
try {
    $release = [int][Microsoft.Win32.Registry]::GetValue('HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full', 'Release', 0)
} catch {
    $release = -1
}
if ($older -or ($release -ge 0 -and $release -lt @MIN_DOTNET_RELEASE@)) {
    $refusal = '{"powershell":"' + $found + '","dotnet_release":' + $release + '}'
    while ($true) {
        $line = $CutoverStdin.ReadLine()
        if ([string]::IsNullOrEmpty($line)) { exit 4 }
        Send-CutoverFrame '@@CUTOVER-REFUSED@@' $refusal
    }
}
try {
    . ([ScriptBlock]::Create($utf8.GetString([Convert]::FromBase64String($first))))
} catch {
    Send-CutoverFrame '@@CUTOVER-ERROR@@' ('loading the primitives failed: ' + $_)
    exit 3
}
while ($true) {
    $line = $CutoverStdin.ReadLine()
    if ([string]::IsNullOrEmpty($line)) { break }
    if ($line.StartsWith('>')) {
        try {
            $out = @(Receive-CutoverStream $utf8.GetString([Convert]::FromBase64String($line.Substring(1))))
            Send-CutoverFrame '@@CUTOVER@@' ([string]$out[-1])
        }
        catch { Send-CutoverFrame '@@CUTOVER-ERROR@@' ('the transfer failed: ' + $_) }
        continue
    }
    try {
        $json = $utf8.GetString([Convert]::FromBase64String($line))
        $out = @(Invoke-CutoverBatch -Json $json)
        Send-CutoverFrame '@@CUTOVER@@' ([string]$out[-1])
    } catch {
        Send-CutoverFrame '@@CUTOVER-ERROR@@' ('the batch failed: ' + $_)
    }
}
exit 0
"""
BOOTSTRAP_SCRIPT = _BOOTSTRAP_TEMPLATE.replace("@MIN_POWERSHELL@", MIN_POWERSHELL).replace(
    "@MIN_DOTNET_RELEASE@", str(MIN_DOTNET_RELEASE)
)


def encode_powershell(script: str) -> str:
    """`-EncodedCommand` form of a script: base64 of its UTF-16LE text."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def bootstrap_arguments() -> list[str]:
    """Arguments of `powershell.exe` that start the helper."""
    return ["-NoProfile", "-NonInteractive", "-EncodedCommand", encode_powershell(BOOTSTRAP_SCRIPT)]


def encode_line(data: bytes) -> bytes:
    """One stdin message: base64 of `data`, then LF."""
    return base64.b64encode(data) + b"\n"


def encode_receive(
    path: str, offset: int, length: int, final: bool, span: tuple[int, int] | None = None
) -> bytes:
    """The transfer line announcing `length` raw stdin bytes for `path` at `offset` (message 3);
    `span` (start, total): the range from `start` of a `total`-byte file sent as several ranges."""
    segment: dict[str, Any] = {"path": path, "offset": offset, "length": length, "final": final}
    if span is not None:
        segment["start"], segment["total"] = span
    text = json.dumps(segment, ensure_ascii=False)
    return RECEIVE_PREFIX + base64.b64encode(text.encode("utf-8")) + b"\n"


def range_checkpoint(path: str, start: int) -> str:
    """The host file in which the helper receiving the range of `path` from `start` notes its end."""
    return f"{path}.r{start}"


def encode_batch(calls: list[dict[str, Any]], host: str | None = None) -> bytes:
    """The stdin line of one batch; a value JSON cannot carry is the caller's bug, said plainly."""
    try:
        text = json.dumps(calls, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise RemoteError(f"a primitive call cannot travel as JSON: {exc}", host, kind="invalid") from None
    return encode_line(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded stdout frame: the answers (ok), the helper's own failure message, or its
    refusal to run on this host (`refused`, data = what it found)."""

    ok: bool
    data: bytes
    refused: bool = False
    #: an interim progress frame (data: its JSON values); the batch's answer is still to come
    progress: bool = False

    def progress_values(self) -> dict[str, Any] | None:
        """The values of a progress frame; None for a damaged one (progress is shown at best)."""
        try:
            values = json.loads(self.data.decode("utf-8").lstrip("\ufeff"))
        except (UnicodeDecodeError, ValueError):
            return None
        return values if isinstance(values, dict) else None


class FrameReader:
    """Finds the next frame in stdout that arrives in arbitrary pieces (one Receive each)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        #: The last few non-frame lines, shown when the helper dies without answering.
        self.noise: deque[str] = deque(maxlen=10)

    def feed(self, data: bytes) -> Frame | None:
        """Add output; the first complete frame, or None while it is still incomplete."""
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                return None
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            self._scanned = 0
            frame = _parse_line(line)
            if frame is not None:
                return frame
            if line.strip():
                self.noise.append(line.decode("utf-8", "replace")[:200])


_FRAME_KINDS = (
    (FRAME_PREFIX, True, False, False),
    (FRAME_ERROR_PREFIX, False, False, False),
    (FRAME_REFUSED_PREFIX, False, True, False),
    (FRAME_PROGRESS_PREFIX, True, False, True),
)


def _parse_line(line: bytes) -> Frame | None:
    for prefix, ok, refused, progress in _FRAME_KINDS:
        if line.startswith(prefix):
            try:
                return Frame(ok, base64.b64decode(line[len(prefix) :], validate=True), refused, progress)
            except ValueError:
                if progress:  # a damaged progress line costs a live line, not the batch
                    return Frame(True, b"", progress=True)
                return Frame(False, b"the helper wrote a damaged frame (bad base64)")
    return None


def decode_answers(data: bytes, expected: int, host: str | None) -> list[dict[str, Any]]:
    """The answers of a frame, checked against the contract: one dict per call, in order."""
    try:
        answers = json.loads(data.decode("utf-8").lstrip("\ufeff"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteError(f"the PowerShell helper answered malformed JSON: {exc}", host) from None
    if isinstance(answers, dict) and expected == 1:
        answers = [answers]  # ConvertTo-Json unwraps one-element arrays
    if (
        not isinstance(answers, list)
        or len(answers) != expected
        or not all(isinstance(a, dict) for a in answers)
    ):
        raise RemoteError(
            f"the PowerShell helper answered {type(answers).__name__} of the wrong shape "
            f"for {expected} call(s)",
            host,
        )
    return answers

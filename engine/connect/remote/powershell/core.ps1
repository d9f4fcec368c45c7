# cutover primitives for Windows hosts (Windows PowerShell 5.1 on .NET Framework 4.5.2 or later).
#
# The primitives live in the files of this folder, one function per primitive, grouped by what
# they touch; engine/connect/remote/powershell/__init__.py joins them, in its fixed order, into
# the ONE script the WinRM connection sends to the helper, which dot-sources it once and then calls
#     Invoke-CutoverBatch -Json '[{"op": "file.stat", "args": {"path": "C:\\x"}}, ...]'
# for each batch. The answer is the JSON list of answers, one per call and in order:
#     {"ok": true, "value": ...}  or  {"ok": false, "error": "...", "kind": "..."}
# The contract (names, argument names, error kinds) is engine/connect/remote/spec.py; the simulated
# host (simulation/host.py) implements the same answers and tests keep the two in step.
#
# Rules every part keeps:
# - Values from the JSON are data. No Invoke-Expression, no script text built from values;
#   programs get an argument vector quoted by ConvertTo-CutoverArgument, registry keys and IIS
#   objects are reached through .NET APIs with the names as data.
# - Never parse localised text (estates run French and German Windows): services come from
#   CIM and ServiceController, the registry from Microsoft.Win32.RegistryKey, IIS from
#   Microsoft.Web.Administration, programs such as reg.exe and regsvr32 by exit code only.
# - A primitive is `function Invoke-Cutover<Group><Name> { param($a) ... }`, named in the table of
#   dispatch.ps1, and reads its arguments as $a.<name>, exactly as spec.py names them; helpers get
#   values, never $a.
# - Windows PowerShell 5.1 on .NET Framework only: tests/unit/test_powershell_compat.py lists the
#   PowerShell 6/7 and .NET Core constructs that must not appear, each with its documentation.
#
# This part: the failure the dispatcher turns into an error kind, and the checks and conversions
# of argument values.

$CutoverEpoch = New-Object DateTime 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)

function Stop-CutoverCall([string]$Kind, [string]$Message) {
    # A failure the contract describes: the dispatcher answers it with this kind.
    $exception = New-Object System.Exception $Message
    $exception.Data['cutover_kind'] = $Kind
    throw $exception
}

function Get-CutoverErrorKind($Exception) {
    # Map .NET exceptions to the spec's error kinds by type and HRESULT, never by message text.
    $e = $Exception
    while (($e -is [System.Management.Automation.MethodInvocationException] -or
            $e -is [System.Management.Automation.RuntimeException]) -and $null -ne $e.InnerException -and
        -not $e.Data.Contains('cutover_kind')) {
        $e = $e.InnerException
    }
    if ($e.Data.Contains('cutover_kind')) { return [string]$e.Data['cutover_kind'] }
    if ($e -is [System.Management.Automation.ItemNotFoundException] -or $e -is [IO.FileNotFoundException] -or
        $e -is [IO.DirectoryNotFoundException] -or $e -is [IO.DriveNotFoundException]) { return 'not_found' }
    if ($e -is [UnauthorizedAccessException] -or $e -is [Security.SecurityException]) { return 'denied' }
    if ($e -is [IO.IOException] -and (($e.HResult -band 0xFFFF) -eq 112 -or ($e.HResult -band 0xFFFF) -eq 39)) {
        return 'no_space'
    }
    if ($e -is [TimeoutException] -or $e.GetType().FullName -eq 'System.ServiceProcess.TimeoutException') {
        return 'timeout'
    }
    if ($e -is [ArgumentException] -or $e -is [FormatException]) { return 'invalid' }
    return 'failed'
}

function Get-CutoverFlag($Value, [bool]$Default, [string]$Name) {
    if ($null -eq $Value) { return $Default }
    if ($Value -is [bool]) { return $Value }
    Stop-CutoverCall 'invalid' "argument '$Name' must be true or false, not '$Value'"
}

function Get-CutoverCount($Value, [string]$Name) {
    # A whole number >= 0 or $null.
    if ($null -eq $Value) { return $null }
    if (($Value -is [int] -or $Value -is [long]) -and $Value -ge 0) { return [long]$Value }
    Stop-CutoverCall 'invalid' "$Name must be a whole number >= 0, not '$Value'"
}

function Get-CutoverText($Value, [string]$Name) {
    # NUL is refused: Windows APIs take NUL-terminated strings and would silently cut the value there.
    if ($Value -is [string] -and $Value.IndexOf([char]0) -ge 0) { Stop-CutoverCall 'invalid' "argument '$Name' contains NUL" }
    if ($Value -is [string] -and $Value.Trim() -ne '') { return $Value }
    Stop-CutoverCall 'invalid' "argument '$Name' must be a non-empty string"
}

function Get-CutoverChoice($Value, [string]$Name, [string[]]$Choices) {
    if ($Value -is [string] -and $Choices -contains $Value.ToLowerInvariant()) { return $Value.ToLowerInvariant() }
    Stop-CutoverCall 'invalid' "argument '$Name' must be one of $($Choices -join ', '), not '$Value'"
}

function ConvertTo-CutoverHex([byte[]]$Bytes) {
    return ([BitConverter]::ToString($Bytes)).Replace('-', '').ToLowerInvariant()
}

function Get-CutoverEpoch([DateTime]$Time) {
    return [double]($Time.ToUniversalTime() - $CutoverEpoch).TotalSeconds
}

function ConvertFrom-CutoverBase64($Value, [string]$Name) {
    if (-not ($Value -is [string])) { Stop-CutoverCall 'invalid' "$Name must be base64 text" }
    try { return [Convert]::FromBase64String($Value) }
    catch { Stop-CutoverCall 'invalid' "$Name is not valid base64" }
}

function ConvertTo-CutoverTable($Object) {
    # A JSON object (PSCustomObject) as a hashtable of strings; $null stays empty.
    $table = @{}
    if ($null -eq $Object) { return $table }
    foreach ($property in $Object.PSObject.Properties) { $table[$property.Name] = [string]$property.Value }
    return $table
}

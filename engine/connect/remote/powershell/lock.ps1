# lock.take, lock.beat, lock.inspect, lock.release: the estate's lock marker on this host
# (engine/execute/estate_markers.py says where it lives, C:\ProgramData\cutover\locks\<estate>.lock by default).
# The marker is a file whose content is the holder's JSON (run id, operator, controller, pid, since,
# heartbeat). It is created with [IO.File]::Open(path, CreateNew): "CreateNew: Specifies that the
# operating system should create a new file. ... If the file already exists, an IOException exception is
# thrown." (https://learn.microsoft.com/dotnet/api/system.io.filemode), atomically in the file system, so
# of two concurrent takes exactly one creates the file. ERROR_FILE_EXISTS (80) is the HRESULT's code.

function Read-CutoverMarker([string]$Path) {
    # The marker's holder; $null when there is none, @{unreadable = $true} when it is not JSON. A take
    # writes the file just after creating it: a reader that meets it empty or locked tries again.
    for ($try = 1; $try -le 5; $try++) {
        if (-not [IO.File]::Exists($Path)) { return $null }
        try {
            $content = [IO.File]::ReadAllText($Path, (New-Object Text.UTF8Encoding $false))
            if ($content.Trim() -ne '') {
                $parsed = ConvertFrom-Json -InputObject $content
                $holder = [ordered]@{}
                foreach ($property in $parsed.PSObject.Properties) { $holder[$property.Name] = $property.Value }
                return $holder
            }
        }
        catch [IO.FileNotFoundException] { return $null }
        catch [IO.IOException] { }
        catch { }
        Start-Sleep -Milliseconds 100
    }
    return [ordered]@{ unreadable = $true }
}

function ConvertTo-CutoverMarkerBytes($Holder) {
    return (New-Object Text.UTF8Encoding $false).GetBytes((ConvertTo-Json -InputObject $Holder -Compress -Depth 5))
}

function Write-CutoverMarkerNew([string]$Path, [byte[]]$Data) {
    # $true when this call created the marker, $false when it existed (ERROR_FILE_EXISTS).
    try {
        $stream = [IO.File]::Open($Path, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::Read)
    }
    catch {
        $inner = $_.Exception.InnerException
        if ($inner -is [IO.IOException] -and ($inner.HResult -band 0xFFFF) -eq 80) { return $false }
        throw
    }
    try {
        $stream.Write($Data, 0, $Data.Length)
        $stream.Flush($true)
    }
    finally { $stream.Dispose() }
    return $true
}

function Write-CutoverMarkerOver([string]$Path, [byte[]]$Data) {
    # Replace an existing marker atomically (temporary file beside it, then File.Replace).
    $temp = Get-CutoverTempPath $Path
    [IO.File]::WriteAllBytes($temp, $Data)
    Move-CutoverTemp $temp $Path
}

function Invoke-CutoverLockTake {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $holder = $a.holder
    if ($null -eq $holder -or -not ($holder.run_id -is [string]) -or $holder.run_id -eq '') {
        Stop-CutoverCall 'invalid' "argument 'holder' must be an object with a run_id"
    }
    $runId = [string]$holder.run_id
    [void](New-CutoverDirectory ([IO.Path]::GetDirectoryName($path)))
    $data = ConvertTo-CutoverMarkerBytes $holder
    if (Write-CutoverMarkerNew $path $data) {
        return [ordered]@{ taken = $true; again = $false; holder = $holder; path = $path }
    }
    $found = Read-CutoverMarker $path
    if ($null -ne $found -and $found['run_id'] -ne $runId) {
        return [ordered]@{ taken = $false; again = $false; holder = $found; path = $path }
    }
    Write-CutoverMarkerOver $path $data
    return [ordered]@{ taken = $true; again = ($null -ne $found); holder = $holder; path = $path }
}

function Invoke-CutoverLockBeat {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $runId = Get-CutoverText $a.run_id 'run_id'
    $heartbeat = Get-CutoverText $a.heartbeat 'heartbeat'
    $found = Read-CutoverMarker $path
    if ($null -eq $found -or $found['run_id'] -ne $runId) { return [ordered]@{ beat = $false; holder = $found } }
    $found['heartbeat'] = $heartbeat
    Write-CutoverMarkerOver $path (ConvertTo-CutoverMarkerBytes $found)
    return [ordered]@{ beat = $true; holder = $found }
}

function Invoke-CutoverLockInspect {
    param($a)
    $found = Read-CutoverMarker (Resolve-CutoverPath $a.path 'path')
    return [ordered]@{ exists = ($null -ne $found); holder = $found }
}

function Invoke-CutoverLockRelease {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $runId = Get-CutoverText $a.run_id 'run_id'
    $force = Get-CutoverFlag $a.force $false 'force'
    $found = Read-CutoverMarker $path
    if ($null -eq $found) { return [ordered]@{ changed = $false; holder = $null } }
    if ($found['run_id'] -ne $runId -and -not $force) {
        Stop-CutoverCall 'exists' "$path is held by run $($found['run_id']), not $runId"
    }
    try { [IO.File]::Delete($path) }
    catch [IO.FileNotFoundException] { return [ordered]@{ changed = $false; holder = $found } }
    return [ordered]@{ changed = $true; holder = $found }
}

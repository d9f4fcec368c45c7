# The archive.* primitives (zip only on Windows): create, verify, list, extract. Every member is
# checked before anything is written (absolute paths, '..', links out of the destination).

# Windows PowerShell does not load the zip assemblies; ZipFile lives in System.IO.Compression.FileSystem
# on .NET Framework 4.5 and later.
Add-Type -AssemblyName 'System.IO.Compression', 'System.IO.Compression.FileSystem'

function Test-CutoverLinkEntry($Entry) {
    $attributes = $Entry.PSObject.Properties['ExternalAttributes']
    if ($null -eq $attributes) { return $false }
    return ((([long]$attributes.Value) -shr 16) -band 0xF000) -eq 0xA000
}

function Get-CutoverMemberProblem($Entry) {
    # Why extracting this member would be unsafe, or $null.
    $name = $Entry.FullName.Replace('\', '/')
    $parts = @($name.Split('/') | Where-Object { $_ -ne '' })
    if ($name.StartsWith('/') -or $name -match '^[A-Za-z]:') { return 'absolute path' }
    if ($parts -contains '..') { return "'..' in path" }
    foreach ($part in $parts) { if ($part -match '[<>:"|?*\x00-\x1f]') { return 'a name Windows cannot hold' } }
    if (Test-CutoverLinkEntry $Entry) {
        $reader = New-Object IO.StreamReader ($Entry.Open())
        try { $target = $reader.ReadToEnd().Replace('\', '/') } finally { $reader.Dispose() }
        if ($target.StartsWith('/') -or $target -match '^[A-Za-z]:') { return "link out of the destination ($target)" }
        $stack = New-Object System.Collections.ArrayList
        foreach ($part in @($parts | Select-Object -First ($parts.Count - 1)) + $target.Split('/')) {
            if ($part -eq '' -or $part -eq '.') { continue }
            if ($part -eq '..') {
                if ($stack.Count -eq 0) { return "link out of the destination ($target)" }
                $stack.RemoveAt($stack.Count - 1)
            }
            else { [void]$stack.Add($part) }
        }
    }
    return $null
}

function Get-CutoverEntryCrc($Entry) {
    # The CRC-32 recorded for a member: public Crc32 on newer .NET, the private field on .NET Framework.
    $property = $Entry.PSObject.Properties['Crc32']
    if ($null -ne $property) { return [long]$property.Value }
    $field = $Entry.GetType().GetField('_crc32', [Reflection.BindingFlags]'NonPublic,Instance')
    if ($null -ne $field) { return [long]$field.GetValue($Entry) }
    return -1
}

function Open-CutoverZip([string]$Path) {
    Assert-CutoverFile $Path
    try { return [IO.Compression.ZipFile]::OpenRead($Path) }
    catch { Stop-CutoverCall 'invalid' "not a readable zip archive: $Path" }
}

# archive.create: zip a file or a folder through a temporary file swapped in at the end.
function Invoke-CutoverArchiveCreate {
    param($a)
    $format = if ($null -eq $a.format) { 'zip' } else { ([string]$a.format).ToLowerInvariant() }
    if ($format -ne 'zip') { Stop-CutoverCall 'unsupported' "format '$format' is not available on Windows hosts (zip only)" }
    $src = Resolve-CutoverPath $a.src 'src'
    $dest = Resolve-CutoverPath $a.dest 'dest'
    $srcIsDir = [IO.Directory]::Exists($src)
    if (-not $srcIsDir -and -not [IO.File]::Exists($src)) { Stop-CutoverCall 'not_found' "Cannot find path '$src' because it does not exist." }
    if (Test-CutoverWithin $dest $src) { Stop-CutoverCall 'invalid' "the archive $dest cannot be inside the folder it archives ($src)" }
    if ([IO.Directory]::Exists($dest)) { Stop-CutoverCall 'exists' "a folder exists at $dest" }
    Assert-CutoverParent $dest
    $tmp = $dest + '.cutover-tmp'
    $count = 0
    $stream = [IO.File]::Open($tmp, [IO.FileMode]::Create)
    try {
        $zip = New-Object IO.Compression.ZipArchive -ArgumentList $stream, ([IO.Compression.ZipArchiveMode]::Create)
        try {
            if (-not $srcIsDir) {
                [void][IO.Compression.ZipFileExtensions]::CreateEntryFromFile($zip, $src, [IO.Path]::GetFileName($src), 'Optimal')
                $count = 1
            }
            else {
                $dirs = Get-CutoverTree $src $true
                foreach ($rel in $dirs.Keys) { [void]$zip.CreateEntry($rel + '/'); $count++ }
                $files = Get-CutoverTree $src $false
                foreach ($rel in $files.Keys) {
                    [void][IO.Compression.ZipFileExtensions]::CreateEntryFromFile($zip, $files[$rel], $rel, 'Optimal')
                    $count++
                }
            }
        }
        finally { $zip.Dispose() }
    }
    catch {
        $stream.Dispose()
        if ([IO.File]::Exists($tmp)) { [IO.File]::Delete($tmp) }
        throw
    }
    $stream.Dispose()
    Move-CutoverTemp $tmp $dest
    return [ordered]@{ sha256 = Get-CutoverFileSha256 $dest; size = [long](Get-Item -LiteralPath $dest -Force).Length; entries = $count }
}

# archive.verify: read every member and compare its CRC-32 with the one recorded.
function Invoke-CutoverArchiveVerify {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    Assert-CutoverFile $path
    $answer = [ordered]@{ ok = $true; entries = 0; sha256 = (Get-CutoverFileSha256 $path); size = [long](Get-Item -LiteralPath $path -Force).Length }
    try {
        $zip = [IO.Compression.ZipFile]::OpenRead($path)
        try {
            $answer.entries = $zip.Entries.Count
            foreach ($entry in $zip.Entries) {
                if ($entry.FullName.EndsWith('/')) { continue }
                $stream = $entry.Open()
                try { $crc = [long][CutoverNative]::Crc32($stream) } finally { $stream.Dispose() }
                $expected = Get-CutoverEntryCrc $entry
                if ($expected -ge 0 -and $expected -ne $crc) {
                    $answer.ok = $false
                    $answer['error'] = "member '$($entry.FullName)' is corrupt (CRC mismatch)"
                    break
                }
            }
        }
        finally { $zip.Dispose() }
    }
    catch {
        $answer.ok = $false
        $answer['error'] = 'not a readable zip archive: ' + $_.Exception.Message
    }
    return $answer
}

# archive.list: the members of a zip, each unsafe one named with its reason.
function Invoke-CutoverArchiveList {
    param($a)
    $zip = Open-CutoverZip (Resolve-CutoverPath $a.path 'path')
    try {
        $entries = New-Object System.Collections.ArrayList
        $unsafe = New-Object System.Collections.ArrayList
        foreach ($entry in $zip.Entries) {
            $type = if (Test-CutoverLinkEntry $entry) { 'link' } elseif ($entry.FullName.EndsWith('/')) { 'directory' } else { 'file' }
            $item = [ordered]@{ name = $entry.FullName; size = [long]$entry.Length; type = $type }
            $problem = Get-CutoverMemberProblem $entry
            if ($null -ne $problem) {
                $item['unsafe'] = $problem
                [void]$unsafe.Add($entry.FullName)
            }
            [void]$entries.Add($item)
        }
    }
    finally { $zip.Dispose() }
    return [ordered]@{ entries = $entries.ToArray(); unsafe = $unsafe.ToArray() }
}

# archive.extract: unzip after checking every member; unchanged files are not rewritten.
function Invoke-CutoverArchiveExtract {
    param($a)
    $overwrite = Get-CutoverFlag $a.overwrite $true 'overwrite'
    $strip = Get-CutoverCount $a.strip 'strip'
    if ($null -eq $strip) { $strip = 0 }
    $src = Resolve-CutoverPath $a.src 'src'
    $dest = Resolve-CutoverPath $a.dest 'dest'
    if ([IO.File]::Exists($dest)) { Stop-CutoverCall 'exists' "a file exists at $dest" }
    $zip = Open-CutoverZip $src
    try {
        # Check every member before writing anything.
        $plan = New-Object System.Collections.ArrayList
        $unsafe = New-Object System.Collections.ArrayList
        foreach ($entry in $zip.Entries) {
            $problem = Get-CutoverMemberProblem $entry
            if ($null -ne $problem) { [void]$unsafe.Add("$($entry.FullName) ($problem)"); continue }
            $parts = @($entry.FullName.Replace('\', '/').Split('/') | Where-Object { $_ -ne '' } | Select-Object -Skip $strip)
            if ($parts.Count -eq 0) { continue }
            [void]$plan.Add(@($entry, (Join-Path $dest ($parts -join '\')), $entry.FullName.EndsWith('/')))
        }
        if ($unsafe.Count -gt 0) {
            Stop-CutoverCall 'unsafe' ('archive refused, nothing written: unsafe member(s) ' + ($unsafe.ToArray() -join '; '))
        }
        $writes = New-Object System.Collections.ArrayList
        foreach ($step in $plan) {
            if ($step[2]) { continue }
            $target = $step[1]
            if ([IO.Directory]::Exists($target)) { Stop-CutoverCall 'exists' "a folder exists where $($step[0].FullName) would be extracted" }
            if ([IO.File]::Exists($target)) {
                $stream = $step[0].Open()
                try { $same = ((Get-Item -LiteralPath $target -Force).Length -eq $step[0].Length) -and ((Get-CutoverStreamSha256 $stream) -eq (Get-CutoverFileSha256 $target)) }
                finally { $stream.Dispose() }
                if ($same) { continue }
                if (-not $overwrite) { Stop-CutoverCall 'exists' "$target exists (overwrite is off)" }
            }
            [void]$writes.Add($step)
        }
        $created = New-CutoverDirectory $dest
        foreach ($step in $plan) {
            if ($step[2]) { $created = (New-CutoverDirectory $step[1]) -or $created }
        }
        foreach ($step in $writes) {
            [void](New-CutoverDirectory ([IO.Path]::GetDirectoryName($step[1])))
            $tmp = $step[1] + '.cutover-tmp'
            [IO.Compression.ZipFileExtensions]::ExtractToFile($step[0], $tmp, $true)
            Move-CutoverTemp $tmp $step[1]
        }
    }
    finally { $zip.Dispose() }
    return [ordered]@{ changed = ($writes.Count -gt 0 -or $created); files = $writes.Count }
}

# The archive.* primitives (zip only on Windows): create, verify, list, extract. archive.extract is
# all or nothing (below): every member is checked before anything is written, and what is written
# goes into a folder beside dest that is moved in only when every member was written.

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
        if ($target -eq '') { return 'link without target' }
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

function Open-CutoverZipRead([string]$Path) {
    # Entry names with the zip's UTF-8 flag are read as UTF-8; the others in the system's OEM code
    # page, as the tools that write them (Explorer's "Send to compressed folder") do. OpenRead would
    # use the ANSI code page for those, so an accented name from such a zip came out wrong
    # (ZipFile.Open(String, ZipArchiveMode, Encoding), .NET Framework 4.5+:
    # https://learn.microsoft.com/dotnet/api/system.io.compression.zipfile.open).
    return [IO.Compression.ZipFile]::Open($Path, [IO.Compression.ZipArchiveMode]::Read, (Get-CutoverOemEncoding))
}

function Open-CutoverZip([string]$Path) {
    Assert-CutoverFile $Path
    try { return Open-CutoverZipRead $Path }
    catch { Stop-CutoverCall 'invalid' "not a readable zip archive: $Path" }
}

# archive.create: zip a file or a folder through a temporary file swapped in at the end. Streaming:
# a ZipArchive opened in Create mode on a FileStream writes each entry to the file as it is added
# (ZipArchiveMode.Create, learn.microsoft.com/dotnet/api/system.io.compression.ziparchivemode), and
# CreateEntryFromFile copies the file through a buffer, so no file is ever held whole in memory.
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
    $tmp = Get-CutoverTempPath $dest
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
        $zip = Open-CutoverZipRead $path
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

# archive.extract: all or nothing, by the rules of the POSIX helper and the simulated host
# (engine/connect/remote/posix_helper.py check_members, docs/security.md, 8). Every member is checked
# before anything is written: its name (Get-CutoverMemberProblem), the path it resolves to with the
# links of earlier members followed, duplicates (names equal but for case are one name on NTFS),
# the limits, then the free space of dest's volume against the declared size and every path the
# extraction opens against MAX_PATH. The members are written into a folder beside dest, each with
# its CRC-32 checked as it is copied and never copied past its declared size (.NET Framework's
# ZipArchive checks no CRC, github.com/dotnet/corefx/issues/8610, and inflates to the end of the
# compressed data whatever size the header declares, github.com/dotnet/docs/issues/13448), moved in only
# when all were written; on any failure the staging folder goes and every file moved is put back.
#
# MAX_PATH: powershell.exe 5.1 is not long-path aware, so .NET Framework keeps the legacy path
# handling, where a path of 260 characters or more throws PathTooLongException and the `\\?\`
# prefix is refused (learn.microsoft.com/dotnet/api/system.io.pathtoolongexception,
# learn.microsoft.com/windows/win32/fileio/maximum-file-path-limitation): such a member fails
# with its path named, before anything is written.

#: The limits by default, each an argument of the call (0 turns one off): the POSIX helper's
#: EXTRACT_LIMITS (tests/unit/test_extract_rules.py holds them equal).
$CutoverExtractLimits = [ordered]@{ max_size = [long]21474836480; max_members = [long]500000; max_ratio = [long]200; max_total_ratio = [long]100 }
#: Ratios are judged from this many uncompressed bytes on (RATIO_FLOOR).
$CutoverRatioFloor = [long]1048576
#: What a member costs the file system beyond its bytes (RECORD: an NTFS file record).
$CutoverRecordBytes = [long]1024

function Get-CutoverEntryKind($Entry) {
    # 'directory', 'link', 'device' or 'file', from the name and the Unix mode a zip may carry.
    if ($Entry.FullName.EndsWith('/') -or $Entry.FullName.EndsWith('\')) { return 'directory' }
    $attributes = $Entry.PSObject.Properties['ExternalAttributes']
    $type = if ($null -eq $attributes) { 0 } else { (([long]$attributes.Value) -shr 16) -band 0xF000 }
    if ($type -eq 0x4000) { return 'directory' }
    if ($type -eq 0xA000) { return 'link' }
    if ($type -ne 0 -and $type -ne 0x8000) { return 'device' }
    return 'file'
}

function Stop-CutoverRefusal([string]$Member, [string]$Rule, [string]$Kind = 'unsafe') {
    Stop-CutoverCall $Kind "archive refused, nothing written: $Member`: $Rule"
}

function Get-CutoverNameParts([string]$Name) {
    # A member's path components ('/' and '\' both separate on Windows), '' and '.' dropped.
    $Name.Replace('\', '/').Split('/') | Where-Object { $_ -ne '' -and $_ -ne '.' }
}

function Resolve-CutoverTreePath($Tree, [string[]]$Parts) {
    # The real path below dest that Parts names, links of earlier members followed (as Windows
    # would follow them), as parts; $null when it leaves dest or loops (40 links, Linux's limit).
    $stack = New-Object System.Collections.Generic.List[string]
    $todo = New-Object System.Collections.Generic.List[string]
    foreach ($part in $Parts) { $todo.Add($part) }
    $hops = 0
    while ($todo.Count -gt 0) {
        $name = $todo[0]
        $todo.RemoveAt(0)
        if ($name -eq '' -or $name -eq '.') { continue }
        if ($name -eq '..') {
            if ($stack.Count -eq 0) { return $null }
            $stack.RemoveAt($stack.Count - 1)
            continue
        }
        $here = (@($stack) + $name) -join '/'
        $entry = $null
        if ($Tree.ContainsKey($here)) { $entry = $Tree[$here] }
        if ($null -eq $entry -or $entry.kind -ne 'link') { $stack.Add($name); continue }
        $hops++
        if ($hops -gt 40) { return $null }
        $target = ([string]$entry.link).Replace('\', '/')
        if ($target.StartsWith('/') -or $target -match '^[A-Za-z]:') { return $null }
        $todo.InsertRange(0, [string[]]$target.Split('/'))
    }
    return , ([string[]]$stack.ToArray())
}

function Get-CutoverExtractPlan($Zip, [string]$Source, [string]$Dest, [long]$Strip, $Limits) {
    # Every member checked (see above): @{ plan = @(@{entry; kind; parts}), total = declared bytes }.
    $entries = @($Zip.Entries)
    if ($Limits.max_members -gt 0 -and $entries.Count -gt $Limits.max_members) {
        Stop-CutoverRefusal $Source "$($entries.Count) members, over max_members $($Limits.max_members)"
    }
    $tree = New-Object 'System.Collections.Generic.Dictionary[string,object]' ([StringComparer]::OrdinalIgnoreCase)
    $plan = New-Object System.Collections.ArrayList
    $total = [long]0
    foreach ($entry in $entries) {
        $problem = Get-CutoverMemberProblem $entry
        if ($null -ne $problem) { Stop-CutoverRefusal $entry.FullName $problem }
        $kind = Get-CutoverEntryKind $entry
        if ($kind -eq 'device') { Stop-CutoverRefusal $entry.FullName 'device or special file' }
        $parts = @(Get-CutoverNameParts $entry.FullName | Select-Object -Skip $Strip)
        if ($parts.Count -eq 0) { continue }
        $parentParts = [string[]]@($parts | Select-Object -First ($parts.Count - 1))
        $parent = Resolve-CutoverTreePath $tree $parentParts
        if ($null -eq $parent) { Stop-CutoverRefusal $entry.FullName "its folder resolves through a link out of $Dest" }
        $real = [string[]](@($parent) + $parts[$parts.Count - 1])
        $key = $real -join '/'
        if ($tree.ContainsKey($key) -and -not ($tree[$key].kind -eq 'directory' -and $kind -eq 'directory')) {
            Stop-CutoverRefusal $entry.FullName 'duplicate member name (an earlier member has the same path (names differ only by case))'
        }
        $link = $null
        if ($kind -eq 'link') {
            $reader = New-Object IO.StreamReader ($entry.Open())
            try { $link = $reader.ReadToEnd() } finally { $reader.Dispose() }
            $through = [string[]](@($parent) + $link.Replace('\', '/').Split('/'))
            if ($null -eq (Resolve-CutoverTreePath $tree $through)) { Stop-CutoverRefusal $entry.FullName "link out of the destination ($link)" }
        }
        elseif ($kind -eq 'file') {
            $total += [long]$entry.Length
            if ($Limits.max_size -gt 0 -and $total -gt $Limits.max_size) {
                Stop-CutoverRefusal $entry.FullName "total uncompressed size over max_size $($Limits.max_size) bytes"
            }
            $ratio = [double]$entry.Length / [Math]::Max([double]$entry.CompressedLength, 1)
            if ($Limits.max_ratio -gt 0 -and $entry.Length -ge $CutoverRatioFloor -and $ratio -gt $Limits.max_ratio) {
                Stop-CutoverRefusal $entry.FullName ("compression ratio {0:F0}:1 ({1} bytes from {2}), over max_ratio {3}" -f $ratio, $entry.Length, $entry.CompressedLength, $Limits.max_ratio)
            }
        }
        $tree[$key] = @{ kind = $kind; link = $link }
        [void]$plan.Add(@{ entry = $entry; kind = $kind; parts = $real; link = $link })
    }
    foreach ($step in $plan) {
        # a later link may have changed where an earlier one leads
        if ($step.kind -ne 'link') { continue }
        $folder = [string[]]@($step.parts | Select-Object -First ($step.parts.Count - 1))
        $through = [string[]](@($folder) + $step.link.Replace('\', '/').Split('/'))
        if ($null -eq (Resolve-CutoverTreePath $tree $through)) { Stop-CutoverRefusal $step.entry.FullName "link chain out of the destination ($($step.link))" }
    }
    $packed = [long](Get-Item -LiteralPath $Source -Force).Length
    $overall = [double]$total / [Math]::Max([double]$packed, 1)
    if ($Limits.max_total_ratio -gt 0 -and $total -ge $CutoverRatioFloor -and $overall -gt $Limits.max_total_ratio) {
        Stop-CutoverRefusal $Source ("compression ratio {0:F0}:1 ({1} bytes from {2}), over max_total_ratio {3}" -f $overall, $total, $packed, $Limits.max_total_ratio)
    }
    return @{ plan = $plan; total = $total }
}

function Assert-CutoverExtractSpace([string]$Source, [string]$Dest, [long]$Total, [long]$Count) {
    # Refuse before writing when dest's volume cannot hold the declared size with its margin.
    $probe = [IO.Path]::GetDirectoryName($Dest)
    while ($null -ne $probe -and -not [IO.Directory]::Exists($probe)) { $probe = [IO.Path]::GetDirectoryName($probe) }
    if ($null -eq $probe) { $probe = [IO.Path]::GetPathRoot($Dest) }
    $root = $probe.TrimEnd('\') + '\'
    $free = [long]([CutoverNative]::DiskSpace($root)[0])
    $needed = $Total + [long][Math]::Floor($Total / 10) + $CutoverRecordBytes * $Count
    if ($needed -gt $free) {
        Stop-CutoverCall 'no_space' "archive refused, nothing written: $Source needs $needed bytes ($Total uncompressed, 10% and 1 KiB per member more) on the volume of $probe, which has $free bytes free"
    }
}

function Write-CutoverStagedMember($Step, [string]$Path) {
    # One member into the staging folder, its CRC-32 checked as it is copied: a corrupt member fails
    # naming it. A link member is written as the file holding its target, as ZipFile does on Windows.
    if ($Step.kind -eq 'directory') { [void][IO.Directory]::CreateDirectory($Path); return }
    [void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($Path))
    $entry = $Step.entry
    try {
        $source = $entry.Open()
        try {
            $target = [IO.File]::Open($Path, [IO.FileMode]::CreateNew)
            try { $crc = [long][CutoverNative]::CopyCrc32($source, $target, [long]$entry.Length) } finally { $target.Dispose() }
        }
        finally { $source.Dispose() }
    }
    catch [IO.InvalidDataException] {
        Stop-CutoverRefusal $entry.FullName "corrupt member ($($_.Exception.Message))" 'invalid'
    }
    catch [Management.Automation.MethodInvocationException] {
        if (-not ($_.Exception.InnerException -is [IO.InvalidDataException])) { throw }
        Stop-CutoverRefusal $entry.FullName "corrupt member ($($_.Exception.InnerException.Message))" 'invalid'
    }
    $expected = Get-CutoverEntryCrc $entry
    if ($expected -ge 0 -and $expected -ne $crc) { Stop-CutoverRefusal $entry.FullName 'corrupt member (CRC mismatch)' 'invalid' }
    [IO.File]::SetLastWriteTime($Path, $entry.LastWriteTime.DateTime)
}

function Move-CutoverStagedTree([string]$Staging, [string]$Dest, $Writes) {
    # Move what staging holds into dest: a missing dest is the staging folder renamed; into an
    # existing one each replaced file goes aside first, and a failure puts every file back.
    if (-not [IO.Directory]::Exists($Dest)) { [IO.Directory]::Move($Staging, $Dest); return }
    $aside = Get-CutoverTempPath $Dest
    [void][IO.Directory]::CreateDirectory($aside)
    $made = New-Object System.Collections.ArrayList
    $moved = New-Object System.Collections.ArrayList
    try {
        foreach ($step in $Writes) {
            $final = Join-Path $Dest ($step.parts -join '\')
            $folder = if ($step.kind -eq 'directory') { $final } else { [IO.Path]::GetDirectoryName($final) }
            $missing = New-Object System.Collections.ArrayList
            $probe = $folder
            while ($null -ne $probe -and -not [IO.Directory]::Exists($probe)) { [void]$missing.Insert(0, $probe); $probe = [IO.Path]::GetDirectoryName($probe) }
            foreach ($new in $missing) { [void][IO.Directory]::CreateDirectory($new); [void]$made.Add($new) }
            if ($step.kind -eq 'directory') { continue }
            $old = $null
            if ([IO.File]::Exists($final)) {
                $old = Join-Path $aside ([string]$moved.Count)
                [IO.File]::Move($final, $old)
            }
            [IO.File]::Move((Join-Path $Staging ($step.parts -join '\')), $final)
            [void]$moved.Add(@($final, $old))
        }
    }
    catch {
        for ($i = $moved.Count - 1; $i -ge 0; $i--) {
            [IO.File]::Delete($moved[$i][0])
            if ($null -ne $moved[$i][1]) { [IO.File]::Move($moved[$i][1], $moved[$i][0]) }
        }
        for ($i = $made.Count - 1; $i -ge 0; $i--) { if ([IO.Directory]::Exists($made[$i])) { [IO.Directory]::Delete($made[$i], $true) } }
        throw
    }
    finally { if ([IO.Directory]::Exists($aside)) { [IO.Directory]::Delete($aside, $true) } }
}

function Invoke-CutoverArchiveExtract {
    param($a)
    $overwrite = Get-CutoverFlag $a.overwrite $true 'overwrite'
    $strip = Get-CutoverCount $a.strip 'strip'
    if ($null -eq $strip) { $strip = 0 }
    $given = [ordered]@{ max_size = $a.max_size; max_members = $a.max_members; max_ratio = $a.max_ratio; max_total_ratio = $a.max_total_ratio }
    $limits = @{}
    foreach ($name in $CutoverExtractLimits.Keys) {
        $value = Get-CutoverCount $given[$name] $name
        $limits[$name] = if ($null -eq $value) { $CutoverExtractLimits[$name] } else { $value }
    }
    $src = Resolve-CutoverPath $a.src 'src'
    $dest = Resolve-CutoverPath $a.dest 'dest'
    if ([IO.File]::Exists($dest)) { Stop-CutoverCall 'exists' "a file exists at $dest" }
    $zip = Open-CutoverZip $src
    try {
        $checked = Get-CutoverExtractPlan $zip $src $dest $strip $limits
        $staging = Get-CutoverTempPath $dest
        foreach ($step in $checked.plan) {
            # every path the extraction opens, said with the member's path, before anything is written
            Assert-CutoverPathLength (Join-Path $dest ($step.parts -join '\'))
            Assert-CutoverPathLength (Join-Path $staging ($step.parts -join '\'))
        }
        Assert-CutoverExtractSpace $src $dest $checked.total $checked.plan.Count
        $writes = New-Object System.Collections.ArrayList
        foreach ($step in $checked.plan) {
            $target = Join-Path $dest ($step.parts -join '\')
            if ($step.kind -eq 'directory') {
                if ([IO.File]::Exists($target)) { Stop-CutoverCall 'exists' "a file exists where folder $($step.entry.FullName) would be extracted" }
                if (-not [IO.Directory]::Exists($target)) { [void]$writes.Add($step) }
                continue
            }
            if ([IO.Directory]::Exists($target)) { Stop-CutoverCall 'exists' "a folder exists where $($step.entry.FullName) would be extracted" }
            if ([IO.File]::Exists($target)) {
                $stream = $step.entry.Open()
                try { $same = ((Get-Item -LiteralPath $target -Force).Length -eq $step.entry.Length) -and ((Get-CutoverStreamSha256 $stream) -eq (Get-CutoverFileSha256 $target)) }
                finally { $stream.Dispose() }
                if ($same) { continue }
                if (-not $overwrite) { Stop-CutoverCall 'exists' "$target exists (overwrite is off)" }
            }
            [void]$writes.Add($step)
        }
        if ($writes.Count -eq 0 -and [IO.Directory]::Exists($dest)) { return [ordered]@{ changed = $false; files = 0 } }
        $parents = New-Object System.Collections.ArrayList
        $probe = [IO.Path]::GetDirectoryName($dest)
        while ($null -ne $probe -and -not [IO.Directory]::Exists($probe)) { [void]$parents.Insert(0, $probe); $probe = [IO.Path]::GetDirectoryName($probe) }
        foreach ($folder in $parents) { [void](New-CutoverDirectory $folder) }
        [void](New-CutoverDirectory $staging)
        try {
            foreach ($step in $writes) { Write-CutoverStagedMember $step (Join-Path $staging ($step.parts -join '\')) }
            Move-CutoverStagedTree $staging $dest $writes
        }
        catch {
            if ([IO.Directory]::Exists($staging)) { [IO.Directory]::Delete($staging, $true) }
            for ($i = $parents.Count - 1; $i -ge 0; $i--) { if ([IO.Directory]::Exists($parents[$i])) { [IO.Directory]::Delete($parents[$i], $true) } }
            throw
        }
        if ([IO.Directory]::Exists($staging)) { [IO.Directory]::Delete($staging, $true) }
    }
    finally { $zip.Dispose() }
    $files = @($writes | Where-Object { $_.kind -ne 'directory' }).Count
    return [ordered]@{ changed = $true; files = $files }
}

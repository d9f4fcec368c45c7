# The file.* primitives: stat, hash, read, write, mkdir, remove, touch, attrs, copy, move, list,
# tree_hash. Windows keeps one bit of a POSIX mode (read-only); owner and group are the ACL's.
#
# Large files move in pieces: file.read takes an offset and returns at most $CutoverMaxRead bytes
# (more is refused, naming the limit), file.write appends a piece with `append`, and file.move
# with `overwrite` swaps the finished file in, so no call holds a whole backup zip in memory
# (a shell may have as little as MaxMemoryPerShellMB = 150 on older Windows).

$CutoverMaxRead = 32 * 1024 * 1024

function ConvertTo-CutoverMode($Mode, [bool]$IsDir) {
    # Windows keeps one bit of a mode, read-only: no owner-write bit means read-only.
    try {
        if ($Mode -is [int] -or $Mode -is [long]) { $bits = [long]$Mode }
        else { $bits = [Convert]::ToInt64(([string]$Mode).ToLowerInvariant().Replace('0o', ''), 8) }
    }
    catch { Stop-CutoverCall 'invalid' "mode must be an octal string like '0644', not '$Mode'" }
    $writable = ($bits -band 128) -ne 0
    if ($IsDir) { if ($writable) { return '0755' } else { return '0555' } }
    if ($writable) { return '0644' } else { return '0444' }
}

function Get-CutoverAttrs([string]$Path) {
    $item = Get-Item -LiteralPath $Path -Force
    $readOnly = ($item.Attributes -band [IO.FileAttributes]::ReadOnly) -ne 0
    $mode = ConvertTo-CutoverMode $(if ($readOnly) { '0444' } else { '0644' }) $item.PSIsContainer
    $acl = Get-Acl -LiteralPath $Path
    return [ordered]@{ mode = $mode; owner = [string]$acl.Owner; group = [string]$acl.Group }
}

function Set-CutoverAttrs([string]$Path, $Mode, $Owner, $Group) {
    # Set mode (read-only bit), owner and group where asked and different -> before/after.
    $before = Get-CutoverAttrs $Path
    $item = Get-Item -LiteralPath $Path -Force
    if ($null -ne $Mode) {
        $want = ConvertTo-CutoverMode $Mode $item.PSIsContainer
        if ($want -ne $before.mode) {
            if ($want -eq '0444' -or $want -eq '0555') { $item.Attributes = $item.Attributes -bor [IO.FileAttributes]::ReadOnly }
            else { $item.Attributes = $item.Attributes -band (-bnot [IO.FileAttributes]::ReadOnly) }
        }
    }
    if (($null -ne $Owner -and $Owner -ne $before.owner) -or ($null -ne $Group -and $Group -ne $before.group)) {
        $acl = Get-Acl -LiteralPath $Path
        if ($null -ne $Owner -and $Owner -ne $before.owner) { $acl.SetOwner((New-Object Security.Principal.NTAccount ([string]$Owner))) }
        if ($null -ne $Group -and $Group -ne $before.group) { $acl.SetGroup((New-Object Security.Principal.NTAccount ([string]$Group))) }
        Set-Acl -LiteralPath $Path -AclObject $acl
    }
    $after = Get-CutoverAttrs $Path
    $changed = ($before.mode -ne $after.mode) -or ($before.owner -ne $after.owner) -or ($before.group -ne $after.group)
    return [ordered]@{ changed = $changed; before = $before; after = $after }
}

function Write-CutoverFile([string]$Path, [byte[]]$Data) {
    # Atomic replace: write a temp file next to the target, then swap it in.
    $tmp = Get-CutoverTempPath $Path
    try {
        [IO.File]::WriteAllBytes($tmp, $Data)
        if ([IO.File]::Exists($Path)) { [IO.File]::Replace($tmp, $Path, [NullString]::Value) }
        else { [IO.File]::Move($tmp, $Path) }
    }
    catch {
        if ([IO.File]::Exists($tmp)) { [IO.File]::Delete($tmp) }
        throw
    }
}

function Test-CutoverSameFile([string]$Left, [string]$Right) {
    if ((Get-Item -LiteralPath $Left -Force).Length -ne (Get-Item -LiteralPath $Right -Force).Length) { return $false }
    return (Get-CutoverFileSha256 $Left) -eq (Get-CutoverFileSha256 $Right)
}

# file.stat: whether a path exists and what it is; a link is reported as a link only with follow off.
function Invoke-CutoverFileStat {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $follow = Get-CutoverFlag $a.follow $true 'follow'
    # Not -ErrorAction SilentlyContinue: a path Windows refuses to show (a share without the second
    # hop) must not look absent.
    try { $item = Get-Item -LiteralPath $path -Force -ErrorAction Stop }
    catch [System.Management.Automation.ItemNotFoundException] { return [ordered]@{ exists = $false } }
    catch {
        if ($_.Exception -is [UnauthorizedAccessException] -or [string]$_.CategoryInfo.Category -eq 'PermissionDenied') {
            Stop-CutoverCall 'denied' (Get-CutoverDeniedMessage $path)
        }
        throw
    }
    $attrs = Get-CutoverAttrs $path
    $isLink = ($item.Attributes -band [IO.FileAttributes]::ReparsePoint) -ne 0
    $type = if ($isLink -and -not $follow) { 'link' } elseif ($item.PSIsContainer) { 'directory' } else { 'file' }
    $answer = [ordered]@{
        exists = $true
        type   = $type
        size   = $(if ($item.PSIsContainer) { 0 } else { [long]$item.Length })
        mode   = $attrs.mode
        mtime  = Get-CutoverEpoch $item.LastWriteTimeUtc
        owner  = $attrs.owner
        group  = $attrs.group
    }
    if ($isLink -and $null -ne $item.PSObject.Properties['Target']) { $answer['target'] = [string](@($item.Target)[0]) }
    return $answer
}

# file.hash: the digest of one file (sha256 unless asked otherwise) and its size.
function Invoke-CutoverFileHash {
    param($a)
    $algorithm = if ($null -eq $a.algorithm) { 'sha256' } else { ([string]$a.algorithm).ToLowerInvariant() }
    if (@('sha256', 'sha1', 'md5', 'sha384', 'sha512') -notcontains $algorithm) {
        Stop-CutoverCall 'invalid' "algorithm must be one of sha256, sha1, md5, sha384, sha512, not '$algorithm'"
    }
    $path = Resolve-CutoverPath $a.path 'path'
    Assert-CutoverFile $path
    $digest = (Get-FileHash -LiteralPath $path -Algorithm $algorithm.ToUpperInvariant()).Hash.ToLowerInvariant()
    return [ordered]@{ algorithm = $algorithm; digest = $digest; size = [long](Get-Item -LiteralPath $path -Force).Length }
}

# file.read: a file's bytes as base64 from an offset, cut at max_bytes when given.
function Invoke-CutoverFileRead {
    param($a)
    $limit = Get-CutoverCount $a.max_bytes 'max_bytes'
    $offset = Get-CutoverCount $a.offset 'offset'
    if ($null -eq $offset) { $offset = 0 }
    $path = Resolve-CutoverPath $a.path 'path'
    Assert-CutoverFile $path
    $stream = [IO.File]::OpenRead($path)
    try {
        $size = $stream.Length
        $left = [Math]::Max(0, $size - $offset)
        $want = if ($null -eq $limit) { $left } else { [Math]::Min($left, $limit) }
        if ($want -gt $CutoverMaxRead) {
            Stop-CutoverCall 'invalid' "$path has $left bytes to read; one call reads at most $CutoverMaxRead (read it in pieces with offset and max_bytes)"
        }
        [void]$stream.Seek($offset, [IO.SeekOrigin]::Begin)
        $buffer = New-Object byte[] $want
        $read = 0
        while ($read -lt $want) {
            $n = $stream.Read($buffer, $read, $want - $read)
            if ($n -le 0) { break }
            $read += $n
        }
    }
    finally { $stream.Dispose() }
    return [ordered]@{ content_b64 = [Convert]::ToBase64String($buffer, 0, $read); size = [long]$size; truncated = (($offset + $read) -lt $size); offset = [long]$offset }
}

# file.write: replace a file atomically when its content differs, optionally keeping a .bak copy;
# with append, add a piece at the end of the file (a chunked upload to a temporary file).
function Invoke-CutoverFileWrite {
    param($a)
    $data = ConvertFrom-CutoverBase64 $a.content_b64 'content_b64'
    $backup = Get-CutoverFlag $a.backup $false 'backup'
    $append = Get-CutoverFlag $a.append $false 'append'
    $path = Resolve-CutoverPath $a.path 'path'
    if ([IO.Directory]::Exists($path)) { Stop-CutoverCall 'exists' "a folder exists at $path" }
    Assert-CutoverParent $path
    Assert-CutoverPathLength $path
    if ($append) {
        $stream = [IO.File]::Open($path, [IO.FileMode]::Append, [IO.FileAccess]::Write)
        try { $stream.Write($data, 0, $data.Length); $size = $stream.Length } finally { $stream.Dispose() }
        return [ordered]@{ changed = ($data.Length -gt 0); size = [long]$size }
    }
    $sha = [Security.Cryptography.SHA256]::Create()
    $answer = [ordered]@{ changed = $false; sha256 = (ConvertTo-CutoverHex $sha.ComputeHash($data)) }
    $sha.Dispose()
    $existed = [IO.File]::Exists($path)
    if (-not $existed -or (Get-CutoverFileSha256 $path) -ne $answer.sha256) {
        if ($existed -and ((Get-Item -LiteralPath $path -Force).Attributes -band [IO.FileAttributes]::ReadOnly) -ne 0) {
            Stop-CutoverCall 'denied' "Access to the path '$path' is denied (read-only)."
        }
        if ($existed -and $backup) {
            $saved = $path + '.' + [DateTime]::UtcNow.ToString('yyyyMMddTHHmmss') + '.bak'
            [IO.File]::Copy($path, $saved, $true)
            $answer['backup_path'] = $saved
        }
        Write-CutoverFile $path $data
        $answer.changed = $true
    }
    $attrs = Set-CutoverAttrs $path $a.mode $a.owner $a.group
    $answer.changed = $answer.changed -or $attrs.changed
    return $answer
}

# file.mkdir: create a folder (and its parents unless told not to).
function Invoke-CutoverFileMkdir {
    param($a)
    $parents = Get-CutoverFlag $a.parents $true 'parents'
    $path = Resolve-CutoverPath $a.path 'path'
    if (-not $parents -and -not [IO.Directory]::Exists($path)) { Assert-CutoverParent $path }
    $created = New-CutoverDirectory $path
    $attrs = Set-CutoverAttrs $path $a.mode $a.owner $a.group
    return [ordered]@{ changed = ($created -or $attrs.changed) }
}

# file.remove: delete a file, or a folder (recursive when it is not empty).
function Invoke-CutoverFileRemove {
    param($a)
    $recursive = Get-CutoverFlag $a.recursive $false 'recursive'
    $path = Resolve-CutoverPath $a.path 'path'
    if ([IO.Directory]::Exists($path)) {
        if (-not $recursive -and @([IO.Directory]::EnumerateFileSystemEntries($path)).Count -gt 0) {
            Stop-CutoverCall 'failed' "The directory is not empty: $path (use recursive)"
        }
        Remove-Item -LiteralPath $path -Force -Recurse
        return [ordered]@{ changed = $true }
    }
    if ([IO.File]::Exists($path)) {
        Remove-Item -LiteralPath $path -Force
        return [ordered]@{ changed = $true }
    }
    return [ordered]@{ changed = $false }
}

# file.touch: create an empty file or bump its modification time.
function Invoke-CutoverFileTouch {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $created = $false
    if ([IO.File]::Exists($path) -or [IO.Directory]::Exists($path)) {
        (Get-Item -LiteralPath $path -Force).LastWriteTimeUtc = [DateTime]::UtcNow
    }
    else {
        Assert-CutoverParent $path
        Write-CutoverFile $path (New-Object byte[] 0)
        $created = $true
    }
    [void](Set-CutoverAttrs $path $a.mode $null $null)
    return [ordered]@{ changed = $created }
}

# file.attrs: set the read-only bit, owner and group of an existing path.
function Invoke-CutoverFileAttrs {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    if (-not (Test-Path -LiteralPath $path)) { Stop-CutoverCall 'not_found' "Cannot find path '$path' because it does not exist." }
    return Set-CutoverAttrs $path $a.mode $a.owner $a.group
}

# file.copy: copy a file or a folder tree; identical files are left alone.
function Invoke-CutoverFileCopy {
    param($a)
    $overwrite = Get-CutoverFlag $a.overwrite $true 'overwrite'
    $src = Resolve-CutoverPath $a.src 'src'
    $dest = Resolve-CutoverPath $a.dest 'dest'
    $srcIsDir = [IO.Directory]::Exists($src)
    if (-not $srcIsDir -and -not [IO.File]::Exists($src)) { Stop-CutoverCall 'not_found' "Cannot find path '$src' because it does not exist." }
    if (Test-CutoverWithin $dest $src) { Stop-CutoverCall 'invalid' "cannot copy $src into itself ($dest)" }
    $destExists = [IO.Directory]::Exists($dest) -or [IO.File]::Exists($dest)
    if ($destExists -and ([IO.Directory]::Exists($dest) -ne $srcIsDir)) { Stop-CutoverCall 'exists' "$dest exists and is of another type" }
    if (-not $destExists) { Assert-CutoverParent $dest }
    $pairs = New-Object System.Collections.ArrayList
    if ($srcIsDir) {
        $files = Get-CutoverTree $src $false
        foreach ($rel in $files.Keys) { [void]$pairs.Add(@($files[$rel], (Join-Path $dest $rel.Replace('/', '\')))) }
    }
    else { [void]$pairs.Add(@($src, $dest)) }
    $created = $false
    if ($srcIsDir) {
        $created = New-CutoverDirectory $dest
        $dirs = Get-CutoverTree $src $true
        foreach ($rel in $dirs.Keys) { $created = (New-CutoverDirectory (Join-Path $dest $rel.Replace('/', '\'))) -or $created }
    }
    $count = 0
    $bytes = [long]0
    foreach ($pair in $pairs) {
        $from = $pair[0]
        $to = $pair[1]
        if ([IO.Directory]::Exists($to)) { Stop-CutoverCall 'exists' "a folder exists where $from would be copied" }
        if ([IO.File]::Exists($to) -and (-not $overwrite -or (Test-CutoverSameFile $from $to))) { continue }
        [IO.File]::Copy($from, $to, $true)
        $count++
        $bytes += (Get-Item -LiteralPath $from -Force).Length
    }
    return [ordered]@{ changed = ($count -gt 0 -or $created); files = $count; bytes = $bytes }
}

# file.move: rename or move a path; a move already done (source gone, target there) is no change;
# overwrite replaces an existing file atomically (File.Replace).
function Invoke-CutoverFileMove {
    param($a)
    $overwrite = Get-CutoverFlag $a.overwrite $false 'overwrite'
    $src = Resolve-CutoverPath $a.src 'src'
    $dest = Resolve-CutoverPath $a.dest 'dest'
    $same = [string]::Equals($src, $dest, [StringComparison]::OrdinalIgnoreCase)
    $srcExists = [IO.File]::Exists($src) -or [IO.Directory]::Exists($src)
    $destExists = [IO.File]::Exists($dest) -or [IO.Directory]::Exists($dest)
    if (-not $srcExists) {
        if ($destExists) { return [ordered]@{ changed = $false } }
        Stop-CutoverCall 'not_found' "Cannot find path '$src' because it does not exist."
    }
    if ($overwrite -and [IO.File]::Exists($src) -and [IO.File]::Exists($dest) -and -not $same) {
        Move-CutoverTemp $src $dest
        return [ordered]@{ changed = $true }
    }
    if ($destExists -and -not $same) { Stop-CutoverCall 'exists' "Cannot create '$dest' because a file or folder with that name already exists." }
    if ((Test-CutoverWithin $dest $src) -and -not $same) { Stop-CutoverCall 'invalid' "cannot move $src into itself ($dest)" }
    Assert-CutoverParent $dest
    if ($same -and [string]::Equals($src, $dest, [StringComparison]::Ordinal)) { return [ordered]@{ changed = $false } }
    $sameVolume = [string]::Equals([IO.Path]::GetPathRoot($src), [IO.Path]::GetPathRoot($dest), [StringComparison]::OrdinalIgnoreCase)
    if ([IO.Directory]::Exists($src) -and -not $sameVolume) {
        Copy-Item -LiteralPath $src -Destination $dest -Recurse -Force
        Remove-Item -LiteralPath $src -Recurse -Force
    }
    else { Move-Item -LiteralPath $src -Destination $dest -Force }
    return [ordered]@{ changed = $true }
}

# file.list: the entries of a folder (recursive when asked), sorted by path, filtered by a glob.
function Invoke-CutoverFileList {
    param($a)
    $recursive = Get-CutoverFlag $a.recursive $false 'recursive'
    $pattern = $a.pattern
    if ($null -ne $pattern -and -not ($pattern -is [string])) { Stop-CutoverCall 'invalid' 'pattern must be a glob string' }
    $root = Resolve-CutoverPath $a.path 'path'
    if (-not [IO.Directory]::Exists($root)) {
        if ([IO.File]::Exists($root)) { Stop-CutoverCall 'invalid' "$root is not a folder" }
        Stop-CutoverCall 'not_found' "$root does not exist"
    }
    $items = if ($recursive) { Get-ChildItem -LiteralPath $root -Force -Recurse } else { Get-ChildItem -LiteralPath $root -Force }
    $sorted = New-Object 'System.Collections.Generic.SortedDictionary[string,object]' ([StringComparer]::Ordinal)
    $base = $root.TrimEnd('\').Length + 1
    foreach ($item in @($items)) {
        if ($null -ne $pattern -and -not ($item.Name -like $pattern)) { continue }
        $rel = $item.FullName.Substring($base)
        $sorted[$rel] = [ordered]@{
            path  = $rel
            type  = $(if ($item.PSIsContainer) { 'directory' } else { 'file' })
            size  = $(if ($item.PSIsContainer) { 0 } else { [long]$item.Length })
            mtime = Get-CutoverEpoch $item.LastWriteTimeUtc
        }
    }
    return [ordered]@{ entries = [object[]]@($sorted.Values) }
}

# file.tree_hash: one digest for a whole folder, the same the simulated host computes.
function Invoke-CutoverFileTreeHash {
    param($a)
    $root = Resolve-CutoverPath $a.path 'path'
    if (-not [IO.Directory]::Exists($root)) {
        if ([IO.File]::Exists($root)) { Stop-CutoverCall 'invalid' "$root is not a folder" }
        Stop-CutoverCall 'not_found' "$root does not exist"
    }
    # sha256 over lines "relative/path<TAB>sha256<LF>" (UTF-8), paths with '/', sorted ordinally.
    $files = Get-CutoverTree $root $false
    $text = New-Object Text.StringBuilder
    $bytes = [long]0
    foreach ($rel in $files.Keys) {
        [void]$text.Append($rel).Append("`t").Append((Get-CutoverFileSha256 $files[$rel])).Append("`n")
        $bytes += (Get-Item -LiteralPath $files[$rel] -Force).Length
    }
    $sha = [Security.Cryptography.SHA256]::Create()
    $digest = ConvertTo-CutoverHex $sha.ComputeHash((New-Object Text.UTF8Encoding $false).GetBytes($text.ToString()))
    $sha.Dispose()
    return [ordered]@{ digest = $digest; files = $files.Count; bytes = $bytes }
}

# File transfers on raw stdin (engine/connect/winrm_framing.py, stdin message 3): not a primitive
# of the batch table, because its bytes are not in the batch: the bootstrap calls it for a `>`
# line, and it reads the `length` bytes that follow straight from stdin into the file, hashing
# them on the way (no second read of the file to verify it). The open file and its running
# sha256 stay here between segments; a new helper (after a dropped connection) has none, so it
# hashes the part already on disk up to `offset` once and carries on from there. $CutoverStdin is
# the bootstrap's byte reader of stdin (winrm_framing.py).
$CutoverReceiving = @{}
$CutoverReceiveBuffer = New-Object byte[] (1024 * 1024)

function Open-CutoverReceive([string]$Path, [long]$Offset) {
    # The transfer's open file, positioned at $Offset, with the sha256 of the bytes before it.
    $state = $CutoverReceiving[$Path]
    if ($null -ne $state -and $state.size -eq $Offset) { return $state }
    if ($null -ne $state) { Close-CutoverReceive $Path }
    Assert-CutoverParent $Path
    Assert-CutoverPathLength $Path
    # FileShare.None: a helper of an earlier attempt that still holds the file makes this one wait
    # (below) instead of writing beside it.
    $stream = $null
    for ($try = 0; $null -eq $stream; $try++) {
        try { $stream = [IO.File]::Open($Path, [IO.FileMode]::OpenOrCreate, [IO.FileAccess]::ReadWrite, [IO.FileShare]::None) }
        catch {
            $inner = $_.Exception
            while ($null -ne $inner.InnerException) { $inner = $inner.InnerException }
            if (-not ($inner -is [IO.IOException]) -or $try -ge 50) { throw }
            Start-Sleep -Milliseconds 200
        }
    }
    if ($stream.Length -lt $Offset) {
        $have = $stream.Length
        $stream.Dispose()
        Stop-CutoverCall 'invalid' "the partial file $Path has $have bytes, fewer than the offset $Offset"
    }
    $stream.SetLength($Offset)
    $sha = [Security.Cryptography.SHA256]::Create()
    $stream.Position = 0
    while (($n = $stream.Read($CutoverReceiveBuffer, 0, $CutoverReceiveBuffer.Length)) -gt 0) {
        [void]$sha.TransformBlock($CutoverReceiveBuffer, 0, $n, $null, 0)
    }
    $state = @{ stream = $stream; sha = $sha; size = [long]$Offset }
    $CutoverReceiving[$Path] = $state
    return $state
}

function Open-CutoverRange([string]$Path, [string]$Key, [long]$Start, [long]$Offset, [long]$Total) {
    # One range of a file sent as several at once, each by its own helper: the file is shared
    # with them (each writes only its own bytes), cut to $Total when longer, positioned at
    # $Offset, with the sha256 of the range's bytes before it [$Start, $Offset).
    $state = $CutoverReceiving[$Key]
    if ($null -ne $state -and $state.size -eq $Offset) { return $state }
    if ($null -ne $state) { Close-CutoverReceive $Key }
    Assert-CutoverParent $Path
    Assert-CutoverPathLength $Path
    $stream = [IO.File]::Open($Path, [IO.FileMode]::OpenOrCreate, [IO.FileAccess]::ReadWrite, [IO.FileShare]::ReadWrite)
    if ($Offset -gt $Start -and $stream.Length -lt $Offset) {
        $have = $stream.Length
        $stream.Dispose()
        Stop-CutoverCall 'invalid' "the partial file $Path has $have bytes, fewer than the offset $Offset"
    }
    if ($stream.Length -gt $Total) { $stream.SetLength($Total) }
    $sha = [Security.Cryptography.SHA256]::Create()
    $stream.Position = $Start
    $left = $Offset - $Start
    while ($left -gt 0) {
        $n = $stream.Read($CutoverReceiveBuffer, 0, [int][Math]::Min($left, [long]$CutoverReceiveBuffer.Length))
        if ($n -le 0) { break }
        [void]$sha.TransformBlock($CutoverReceiveBuffer, 0, $n, $null, 0)
        $left -= $n
    }
    $stream.Position = $Offset
    $state = @{ stream = $stream; sha = $sha; size = [long]$Offset }
    $CutoverReceiving[$Key] = $state
    return $state
}

function Close-CutoverReceive([string]$Path) {
    $state = $CutoverReceiving[$Path]
    if ($null -eq $state) { return }
    $CutoverReceiving.Remove($Path)
    $state.stream.Dispose()
    $state.sha.Dispose()
}

function Receive-CutoverStream([string]$Json) {
    # One segment: `length` raw stdin bytes written at `offset` of `path` -> the JSON list of one
    # answer {size, sha256 when final}. The bytes are always read, also after a failure, so the
    # next stdin line is found where the controller put it.
    # With `start` (one of several ranges at once): Open-CutoverRange, and the range's end so far
    # noted in the checkpoint file path.r<start> after each segment, for a later resume.
    $segment = ConvertFrom-Json -InputObject $Json
    $left = [long]$segment.length
    $failure = $null
    $state = $null
    $path = [string]$segment.path
    $ranged = $null -ne $segment.start
    $key = $path
    try {
        $path = Resolve-CutoverPath $segment.path 'path'
        if ($ranged) {
            $key = $path + '|' + [long]$segment.start
            $state = Open-CutoverRange $path $key ([long]$segment.start) ([long]$segment.offset) ([long]$segment.total)
        }
        else {
            $key = $path
            $state = Open-CutoverReceive $path ([long]$segment.offset)
        }
    }
    catch { $failure = $_ }
    while ($left -gt 0) {
        $n = $CutoverStdin.ReadBytes($CutoverReceiveBuffer, [int][Math]::Min($left, [long]$CutoverReceiveBuffer.Length))
        if ($n -le 0) { throw "stdin ended $left bytes before the end of the segment" }
        if ($null -eq $failure) {
            try {
                $state.stream.Write($CutoverReceiveBuffer, 0, $n)
                [void]$state.sha.TransformBlock($CutoverReceiveBuffer, 0, $n, $null, 0)
            }
            catch { $failure = $_ }
        }
        $left -= $n
    }
    if ($null -ne $failure) {
        if ($null -ne $state) { Close-CutoverReceive $key }
        $answer = [ordered]@{ ok = $false; error = $failure.Exception.Message; kind = (Get-CutoverErrorKind $failure.Exception) }
        return (ConvertTo-Json -InputObject @($answer) -Depth 5 -Compress)
    }
    $state.size += [long]$segment.length
    if ($ranged) {
        $checkpoint = $path + '.r' + [long]$segment.start
        try {
            $state.stream.Flush()
            if ($segment.final) { [IO.File]::Delete($checkpoint) }
            else { [IO.File]::WriteAllText($checkpoint, [string]$state.size) }
        }
        catch {
            Close-CutoverReceive $key
            $answer = [ordered]@{ ok = $false; error = $_.Exception.Message; kind = (Get-CutoverErrorKind $_.Exception) }
            return (ConvertTo-Json -InputObject @($answer) -Depth 5 -Compress)
        }
    }
    $value = [ordered]@{ size = [long]$state.size }
    if ($segment.final) {
        [void]$state.sha.TransformFinalBlock($CutoverReceiveBuffer, 0, 0)
        $value['sha256'] = ConvertTo-CutoverHex $state.sha.Hash
        $state.stream.Flush()
        Close-CutoverReceive $key
    }
    return (ConvertTo-Json -InputObject @([ordered]@{ ok = $true; value = $value }) -Depth 5 -Compress)
}

# file.acl: the access rules of a folder or file, read only (Directory/File.GetAccessControl of .NET
# Framework, https://learn.microsoft.com/en-us/dotnet/api/system.io.directory.getaccesscontrol): who may
# write there is decided by the engine from them (the backup folder against SQL Server's account).
function Invoke-CutoverFileAcl {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $isDir = [IO.Directory]::Exists($path)
    if (-not $isDir -and -not [IO.File]::Exists($path)) { return [ordered]@{ exists = $false; owner = $null; rules = [object[]]@() } }
    try {
        if ($isDir) { $acl = [IO.Directory]::GetAccessControl($path) } else { $acl = [IO.File]::GetAccessControl($path) }
    }
    catch [UnauthorizedAccessException] { Stop-CutoverCall 'denied' (Get-CutoverDeniedMessage $path) }
    $rules = @()
    foreach ($rule in $acl.GetAccessRules($true, $true, [Security.Principal.SecurityIdentifier])) {
        # an account name where the SID still maps to one (a deleted account stays a SID)
        $identity = [string]$rule.IdentityReference
        try { $identity = [string]$rule.IdentityReference.Translate([Security.Principal.NTAccount]) } catch { }
        $type = if ([string]$rule.AccessControlType -eq 'Deny') { 'deny' } else { 'allow' }
        $inheritOnly = ([int]$rule.PropagationFlags -band [int][Security.AccessControl.PropagationFlags]::InheritOnly) -ne 0
        $rules += [ordered]@{ identity = $identity; rights = [long][int]$rule.FileSystemRights; type = $type
            inherited = [bool]$rule.IsInherited; inherit_only = $inheritOnly }
    }
    return [ordered]@{ exists = $true; owner = [string]$acl.GetOwner([Security.Principal.NTAccount]); rules = [object[]]$rules }
}

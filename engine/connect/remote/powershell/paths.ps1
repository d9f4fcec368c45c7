# Paths and file-system helpers several groups share (files, archives, registry export, IIS,
# processes): absolute Windows paths only, parents that must exist, hashes, trees, atomic moves.

function Resolve-CutoverPath($Path, [string]$Name) {
    # An absolute Windows path, normalised ('/' accepted, '.' and '..' folded).
    if (-not ($Path -is [string]) -or $Path.Trim() -eq '') { Stop-CutoverCall 'invalid' "$Name must be a non-empty string" }
    $text = $Path.Trim().Replace('/', '\')
    if ($text -match '^[A-Za-z]:$') { $text += '\' }
    if (-not ($text -match '^[A-Za-z]:\\' -or $text.StartsWith('\\'))) {
        Stop-CutoverCall 'invalid' "$Name must be absolute (C:\... or \\server\share\...): '$Path'"
    }
    try { $full = [IO.Path]::GetFullPath($text) }
    catch { Stop-CutoverCall 'invalid' "$Name is not a valid path: '$Path'" }
    if ($full.Length -gt 3 -and -not ($full -match '^\\\\[^\\]+\\[^\\]+\\?$')) { $full = $full.TrimEnd('\') }
    return $full
}

function Test-CutoverWithin([string]$Inner, [string]$Outer) {
    $i = $Inner.TrimEnd('\') + '\'
    $o = $Outer.TrimEnd('\') + '\'
    return $i.StartsWith($o, [StringComparison]::OrdinalIgnoreCase)
}

function Assert-CutoverParent([string]$Path) {
    $parent = [IO.Path]::GetDirectoryName($Path)
    if ($null -eq $parent -or -not [IO.Directory]::Exists($parent)) {
        Stop-CutoverCall 'not_found' "Could not find a part of the path '$Path': $parent does not exist"
    }
}

function Assert-CutoverFile([string]$Path) {
    if ([IO.Directory]::Exists($Path)) { Stop-CutoverCall 'invalid' "$Path is a folder, not a file" }
    if (-not [IO.File]::Exists($Path)) { Stop-CutoverCall 'not_found' "Cannot find path '$Path' because it does not exist." }
}

function Get-CutoverFileSha256([string]$Path) {
    return (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
}

function Get-CutoverStreamSha256($Stream) {
    $sha = [Security.Cryptography.SHA256]::Create()
    try { return ConvertTo-CutoverHex $sha.ComputeHash($Stream) } finally { $sha.Dispose() }
}

#: The longest path Windows PowerShell 5.1 opens: powershell.exe is not long-path aware, so .NET
#: Framework keeps MAX_PATH (260 characters with the terminating NUL) for every file API it calls.
$CutoverMaxPath = 259

function Get-CutoverTree([string]$Root, [bool]$Directories) {
    # Every file (or folder) below Root: sorted (ordinal) map of relative path with '/' -> full path.
    # Folder by folder, so a name too long for MAX_PATH is reported with the folder that holds it.
    $found = New-Object 'System.Collections.Generic.SortedDictionary[string,string]' ([StringComparer]::Ordinal)
    $base = $Root.TrimEnd('\').Length + 1
    $pending = New-Object System.Collections.Stack
    $pending.Push($Root)
    while ($pending.Count -gt 0) {
        $folder = [string]$pending.Pop()
        try {
            $subfolders = @([IO.Directory]::EnumerateDirectories($folder))
            $files = if ($Directories) { @() } else { @([IO.Directory]::EnumerateFiles($folder)) }
        }
        catch [IO.PathTooLongException] {
            Stop-CutoverCall 'invalid' "a name in $folder ($($folder.Length) characters) makes a path longer than the $CutoverMaxPath characters Windows PowerShell 5.1 can open"
        }
        foreach ($sub in $subfolders) {
            if ($Directories) { $found[$sub.Substring($base).Replace('\', '/')] = $sub }
            $pending.Push($sub)
        }
        foreach ($full in $files) { $found[$full.Substring($base).Replace('\', '/')] = $full }
    }
    return , $found
}

function Assert-CutoverPathLength([string]$Path) {
    # A path the target would need that is over MAX_PATH: said with the path, before anything is written.
    if ($Path.Length -gt $CutoverMaxPath) {
        Stop-CutoverCall 'invalid' "$Path is $($Path.Length) characters long, over the $CutoverMaxPath characters Windows PowerShell 5.1 can open"
    }
}

function Get-CutoverTempPath([string]$Path) {
    # A temporary file beside Path, for an atomic replace: a random short name (16 characters), so
    # it never meets a real file and is never longer than Path by more than a few characters.
    $folder = [IO.Path]::GetDirectoryName($Path)
    $temp = Join-Path $folder ('~ct-' + [Guid]::NewGuid().ToString('N').Substring(0, 8) + '.tmp')
    Assert-CutoverPathLength $temp
    return $temp
}

function Get-CutoverDeniedMessage([string]$Path) {
    # Access denied, with the second hop named when the path is on a share.
    $message = "Access to the path '$Path' is denied."
    if ($Path.StartsWith('\\')) {
        $message += ' Over WinRM a share sees the account only if its credentials travel on (the second hop): use transport credssp, or Kerberos with delegation to the file server, or give the server''s computer account access to the share.'
    }
    return $message
}

function Move-CutoverTemp([string]$Temp, [string]$Path) {
    if ([IO.File]::Exists($Path)) { [IO.File]::Replace($Temp, $Path, [NullString]::Value) }
    else { [IO.File]::Move($Temp, $Path) }
}

function New-CutoverDirectory([string]$Path) {
    # Create a folder and its parents; $true when something was created.
    if ([IO.Directory]::Exists($Path)) { return $false }
    if ([IO.File]::Exists($Path)) { Stop-CutoverCall 'exists' "a file exists at $Path" }
    [void][IO.Directory]::CreateDirectory($Path)
    return $true
}

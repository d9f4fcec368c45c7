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

function Get-CutoverTree([string]$Root, [bool]$Directories) {
    # Every file (or folder) below Root: sorted (ordinal) map of relative path with '/' -> full path.
    $found = New-Object 'System.Collections.Generic.SortedDictionary[string,string]' ([StringComparer]::Ordinal)
    $base = $Root.TrimEnd('\').Length + 1
    $all = [IO.SearchOption]::AllDirectories
    $items = if ($Directories) { [IO.Directory]::EnumerateDirectories($Root, '*', $all) } else { [IO.Directory]::EnumerateFiles($Root, '*', $all) }
    foreach ($full in $items) { $found[$full.Substring($base).Replace('\', '/')] = $full }
    return , $found
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

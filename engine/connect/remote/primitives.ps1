# cutover primitives for Windows hosts (Windows PowerShell 5.1 and later).
#
# The WinRM transport sends this script and a JSON batch over stdin, then calls
#     Invoke-CutoverBatch -Json '[{"op": "file.stat", "args": {"path": "C:\\x"}}, ...]'
# which answers the JSON list of answers, one per call and in order:
#     {"ok": true, "value": ...}  or  {"ok": false, "error": "...", "kind": "..."}
# The contract (names, argument names, error kinds) is engine/connect/remote/spec.py; the simulated
# host (simulation/host.py) implements the same answers and tests keep the two in step.
#
# Rules this script keeps:
# - Values from the JSON are data. No Invoke-Expression, no script text built from values;
#   programs get an argument vector quoted by ConvertTo-CutoverArgument, registry keys and IIS
#   objects are reached through .NET APIs with the names as data.
# - Never parse localised text (estates run French and German Windows): services come from
#   CIM and ServiceController, the registry from Microsoft.Win32.RegistryKey, IIS from
#   Microsoft.Web.Administration, programs such as reg.exe and regsvr32 by exit code only.
# - Each handler reads its arguments as $a.<name>, exactly as spec.py names them.

$CutoverEpoch = New-Object DateTime 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
$CutoverHives = @{
    'HKEY_LOCAL_MACHINE'  = 'LocalMachine'
    'HKEY_CURRENT_USER'   = 'CurrentUser'
    'HKEY_CLASSES_ROOT'   = 'ClassesRoot'
    'HKEY_USERS'          = 'Users'
    'HKEY_CURRENT_CONFIG' = 'CurrentConfig'
}
$CutoverHiveAliases = @{
    'HKLM' = 'HKEY_LOCAL_MACHINE'
    'HKCU' = 'HKEY_CURRENT_USER'
    'HKCR' = 'HKEY_CLASSES_ROOT'
    'HKU'  = 'HKEY_USERS'
    'HKCC' = 'HKEY_CURRENT_CONFIG'
}
$CutoverRegTypes = @{
    'REG_SZ'        = 'String'
    'REG_EXPAND_SZ' = 'ExpandString'
    'REG_DWORD'     = 'DWord'
    'REG_QWORD'     = 'QWord'
    'REG_MULTI_SZ'  = 'MultiString'
    'REG_BINARY'    = 'Binary'
    'REG_NONE'      = 'None'
}

# CRC-32 for archive.verify (.NET Framework does not check member CRCs) and free space for
# any path, UNC shares included. Compiled once per session.
if (-not ('CutoverNative' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.IO;
using System.Runtime.InteropServices;
public static class CutoverNative {
    [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool GetDiskFreeSpaceEx(string dir, out ulong freeToCaller, out ulong total, out ulong totalFree);
    public static ulong[] DiskSpace(string dir) {
        ulong free, total, totalFree;
        if (!GetDiskFreeSpaceEx(dir, out free, out total, out totalFree))
            throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());
        return new ulong[] { free, total };
    }
    static uint[] table;
    public static uint Crc32(Stream stream) {
        if (table == null) {
            uint[] t = new uint[256];
            for (uint i = 0; i < 256; i++) {
                uint c = i;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            table = t;
        }
        uint crc = 0xFFFFFFFFu;
        byte[] buffer = new byte[81920];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
            for (int i = 0; i < n; i++) crc = table[(crc ^ buffer[i]) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
'@
}
Add-Type -AssemblyName System.IO.Compression
Add-Type -AssemblyName System.IO.Compression.FileSystem
Add-Type -AssemblyName System.ServiceProcess

# ------------------------------------------------------------------------------------------
# Errors and small conversions
# ------------------------------------------------------------------------------------------
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
    if ($Value -is [string] -and $Value.Contains([char]0)) { Stop-CutoverCall 'invalid' "argument '$Name' contains NUL" }
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

# ------------------------------------------------------------------------------------------
# Paths and files
# ------------------------------------------------------------------------------------------
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
    $tmp = Join-Path ([IO.Path]::GetDirectoryName($Path)) ('.' + [IO.Path]::GetFileName($Path) + '.cutover-tmp')
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

function Move-CutoverTemp([string]$Temp, [string]$Path) {
    if ([IO.File]::Exists($Path)) { [IO.File]::Replace($Temp, $Path, [NullString]::Value) }
    else { [IO.File]::Move($Temp, $Path) }
}

function Test-CutoverSameFile([string]$Left, [string]$Right) {
    if ((Get-Item -LiteralPath $Left -Force).Length -ne (Get-Item -LiteralPath $Right -Force).Length) { return $false }
    return (Get-CutoverFileSha256 $Left) -eq (Get-CutoverFileSha256 $Right)
}

function New-CutoverDirectory([string]$Path) {
    # Create a folder and its parents; $true when something was created.
    if ([IO.Directory]::Exists($Path)) { return $false }
    if ([IO.File]::Exists($Path)) { Stop-CutoverCall 'exists' "a file exists at $Path" }
    [void][IO.Directory]::CreateDirectory($Path)
    return $true
}

# ------------------------------------------------------------------------------------------
# Archives
# ------------------------------------------------------------------------------------------
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

# ------------------------------------------------------------------------------------------
# Programs
# ------------------------------------------------------------------------------------------
function ConvertTo-CutoverArgument([string]$Value) {
    # Quote one argument so CommandLineToArgvW gives it back unchanged.
    if ($Value -ne '' -and $Value -notmatch '[\s"]') { return $Value }
    $builder = New-Object Text.StringBuilder
    [void]$builder.Append('"')
    $slashes = 0
    foreach ($char in $Value.ToCharArray()) {
        if ($char -eq [char]'\') { $slashes++; continue }
        if ($char -eq [char]'"') { [void]$builder.Append([char]'\', 2 * $slashes + 1) }
        elseif ($slashes -gt 0) { [void]$builder.Append([char]'\', $slashes) }
        [void]$builder.Append($char)
        $slashes = 0
    }
    if ($slashes -gt 0) { [void]$builder.Append([char]'\', 2 * $slashes) }
    [void]$builder.Append('"')
    return $builder.ToString()
}

function Join-CutoverArguments($Arguments) {
    return (@($Arguments | ForEach-Object { ConvertTo-CutoverArgument ([string]$_) }) -join ' ')
}

function Get-CutoverNotRecognized([string]$Program) {
    return [ordered]@{
        rc     = 9009
        stdout = ''
        stderr = "'$Program' is not recognized as an internal or external command,`r`noperable program or batch file.`r`n"
    }
}

function Invoke-CutoverProgram([string]$FilePath, $Arguments) {
    # Run a program to its end and return its exit code (9009 when it cannot be found).
    $params = @{ FilePath = $FilePath; Wait = $true; PassThru = $true; NoNewWindow = $true }
    $line = Join-CutoverArguments $Arguments
    if ($line -ne '') { $params['ArgumentList'] = $line }
    try { $process = Start-Process @params }
    catch {
        if ($FilePath.Contains('\') -and -not [IO.File]::Exists($FilePath)) { return 9009 }
        if (-not $FilePath.Contains('\') -and $null -eq (Get-Command -Name $FilePath -CommandType Application -ErrorAction SilentlyContinue)) {
            return 9009
        }
        throw
    }
    return [int]$process.ExitCode
}

function Get-CutoverArguments($Value, [string]$Default) {
    if ($null -eq $Value) { return , @($Default) }
    if ($Value -is [string]) { return , @($Value.Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries)) }
    $list = @($Value)
    foreach ($item in $list) { if (-not ($item -is [string])) { Stop-CutoverCall 'invalid' 'arguments must be a string or a list of strings' } }
    return , $list
}

# ------------------------------------------------------------------------------------------
# Services
# ------------------------------------------------------------------------------------------
function Get-CutoverServiceInfo([string]$Name) {
    # The Win32_Service instance of exactly this name (no wildcards), or $null.
    if ($Name -match '[\\/]') { Stop-CutoverCall 'invalid' "'$Name' is not a service name" }
    try {
        $key = New-CimInstance -Namespace 'root/cimv2' -ClassName 'Win32_Service' -Key 'Name' -Property @{ Name = $Name } -ClientOnly
        return Get-CimInstance -InputObject $key -ErrorAction Stop
    }
    catch {
        return @(Get-CimInstance -ClassName 'Win32_Service' | Where-Object { $_.Name -eq $Name }) | Select-Object -First 1
    }
}

function Get-CutoverServiceState($Info) {
    $state = @{ Running = 'running'; Stopped = 'stopped'; Paused = 'paused' }[[string]$Info.State]
    $mode = @{ Auto = 'auto'; Manual = 'manual'; Disabled = 'disabled' }[[string]$Info.StartMode]
    if ($null -eq $state) { $state = 'unknown' }
    if ($null -eq $mode) { $mode = 'unknown' }
    return [ordered]@{ state = $state; start_mode = $mode }
}

function Invoke-CutoverServiceProgram([string]$Name, [string]$Executable, $Arguments, [bool]$WantInstalled) {
    # Run a service's own installer (/i) or uninstaller (/u) and check the service really came or went.
    $present = $null -ne (Get-CutoverServiceInfo $Name)
    if ($present -eq $WantInstalled) { return [ordered]@{ changed = $false; rc = 0 } }
    $rc = Invoke-CutoverProgram $Executable $Arguments
    $line = (@($Executable) + $Arguments) -join ' '
    if ($rc -eq 9009) { Stop-CutoverCall 'not_found' "$line exited with 9009: the program was not found" }
    if ($rc -ne 0) { Stop-CutoverCall 'failed' "$line exited with $rc" }
    $present = $null -ne (Get-CutoverServiceInfo $Name)
    if ($present -ne $WantInstalled) {
        $what = if ($WantInstalled) { 'is not installed' } else { 'is still installed' }
        Stop-CutoverCall 'failed' "$line exited with 0 but service $Name $what"
    }
    return [ordered]@{ changed = $true; rc = $rc }
}

# ------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------
function Split-CutoverKey($Key) {
    # 'HKLM\SOFTWARE\eWare\Config\/CRM' -> hive and subkey ('/' is an ordinary character in key names).
    $text = Get-CutoverText $Key 'key'
    if ($text.StartsWith('Registry::', [StringComparison]::OrdinalIgnoreCase)) { $text = $text.Substring(10) }
    $head, $rest = $text.Split([char]'\', 2)
    $hive = $head.TrimEnd(':').ToUpperInvariant()
    if ($CutoverHiveAliases.ContainsKey($hive)) { $hive = $CutoverHiveAliases[$hive] }
    if (-not $CutoverHives.ContainsKey($hive)) {
        Stop-CutoverCall 'invalid' "registry key must start with one of HKLM, HKCU, HKCR, HKU, HKCC: '$text'"
    }
    $sub = (@(([string]$rest).Split([char]'\') | Where-Object { $_ -ne '' })) -join '\'
    return [ordered]@{ hive = $hive; sub = $sub; full = (@($hive) + @($sub | Where-Object { $_ -ne '' })) -join '\' }
}

function Open-CutoverKey($Parts, [bool]$Writable, [bool]$Create) {
    $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]$CutoverHives[$Parts.hive],
        [Microsoft.Win32.RegistryView]::Default)
    if ($Parts.sub -eq '') { return $base }
    if ($Create) { return $base.CreateSubKey($Parts.sub) }
    return $base.OpenSubKey($Parts.sub, $Writable)
}

function Get-CutoverRegValue($RegKey, [string]$Name) {
    # {type, data} of one value, with DWORD/QWORD unsigned and binary as a list of numbers.
    $kind = [string]$RegKey.GetValueKind($Name)
    $raw = $RegKey.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    switch ($kind) {
        'String' { return [ordered]@{ type = 'REG_SZ'; data = [string]$raw } }
        'ExpandString' { return [ordered]@{ type = 'REG_EXPAND_SZ'; data = [string]$raw } }
        'DWord' { return [ordered]@{ type = 'REG_DWORD'; data = [BitConverter]::ToUInt32([BitConverter]::GetBytes([int]$raw), 0) } }
        'QWord' { return [ordered]@{ type = 'REG_QWORD'; data = [BitConverter]::ToUInt64([BitConverter]::GetBytes([long]$raw), 0) } }
        'MultiString' { return [ordered]@{ type = 'REG_MULTI_SZ'; data = [object[]]@($raw) } }
        'Binary' { return [ordered]@{ type = 'REG_BINARY'; data = [object[]]@($raw | ForEach-Object { [int]$_ }) } }
        default { return [ordered]@{ type = 'REG_NONE'; data = [object[]]@($raw | ForEach-Object { [int]$_ }) } }
    }
}

function ConvertTo-CutoverRegData($Data, [string]$Type) {
    # Check that data fits the type (as spec and the sim do) and convert it for RegistryKey.SetValue.
    $isInt = ($Data -is [int] -or $Data -is [long]) -and -not ($Data -is [bool])
    $isList = $Data -is [array]
    if ($Type -eq '') {
        if ($isInt) { if ($Data -ge 0 -and $Data -lt 4294967296) { $Type = 'REG_DWORD' } else { $Type = 'REG_QWORD' } }
        elseif ($isList -and @($Data | Where-Object { -not ($_ -is [string]) }).Count -eq 0) { $Type = 'REG_MULTI_SZ' }
        elseif ($isList) { $Type = 'REG_BINARY' }
        else { $Type = 'REG_SZ' }
    }
    $Type = $Type.ToUpperInvariant()
    if (-not $CutoverRegTypes.ContainsKey($Type)) { Stop-CutoverCall 'invalid' "registry type must be one of $($CutoverRegTypes.Keys -join ', ')" }
    $bad = "data does not fit registry type $Type"
    switch ($Type) {
        { $_ -eq 'REG_SZ' -or $_ -eq 'REG_EXPAND_SZ' } {
            if (-not ($Data -is [string])) { Stop-CutoverCall 'invalid' $bad }
            return [ordered]@{ type = $Type; data = $Data; value = $Data }
        }
        'REG_DWORD' {
            if (-not $isInt -or $Data -lt -2147483648 -or $Data -ge 4294967296) { Stop-CutoverCall 'invalid' $bad }
            $unsigned = [long]$Data
            if ($unsigned -lt 0) { $unsigned += 4294967296 }
            $value = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$unsigned), 0)
            return [ordered]@{ type = $Type; data = [uint32]$unsigned; value = $value }
        }
        'REG_QWORD' {
            if (-not $isInt) { Stop-CutoverCall 'invalid' $bad }
            $value = [long]$Data
            return [ordered]@{ type = $Type; data = [BitConverter]::ToUInt64([BitConverter]::GetBytes($value), 0); value = $value }
        }
        'REG_MULTI_SZ' {
            if (-not $isList -or @($Data | Where-Object { -not ($_ -is [string]) }).Count -gt 0) { Stop-CutoverCall 'invalid' $bad }
            return [ordered]@{ type = $Type; data = [object[]]@($Data); value = [string[]]@($Data) }
        }
        default {
            if (-not $isList -or @($Data | Where-Object { -not (($_ -is [int] -or $_ -is [long]) -and $_ -ge 0 -and $_ -lt 256) }).Count -gt 0) {
                Stop-CutoverCall 'invalid' $bad
            }
            return [ordered]@{ type = $Type; data = [object[]]@($Data); value = [byte[]]@($Data) }
        }
    }
}

function Add-CutoverRegLines($RegKey, [string]$Path, $Lines) {
    # Every value below a key as text lines, to tell whether an import changed anything.
    foreach ($name in $RegKey.GetValueNames()) {
        [void]$Lines.Add("$Path|$name|" + (ConvertTo-Json -InputObject (Get-CutoverRegValue $RegKey $name) -Compress -Depth 4))
    }
    foreach ($sub in $RegKey.GetSubKeyNames()) {
        $child = $RegKey.OpenSubKey($sub)
        if ($null -ne $child) {
            [void]$Lines.Add("$Path\$sub")
            Add-CutoverRegLines $child "$Path\$sub" $Lines
            $child.Close()
        }
    }
}

function Get-CutoverRegSnapshot([string[]]$Keys) {
    $lines = New-Object System.Collections.ArrayList
    foreach ($key in $Keys) {
        $parts = Split-CutoverKey $key
        $regKey = Open-CutoverKey $parts $false $false
        if ($null -eq $regKey) { [void]$lines.Add("$($parts.full)|absent"); continue }
        Add-CutoverRegLines $regKey $parts.full $lines
        $regKey.Close()
    }
    return ($lines.ToArray() -join "`n")
}

# ------------------------------------------------------------------------------------------
# IIS (Microsoft.Web.Administration, the library behind the IIS cmdlets)
# ------------------------------------------------------------------------------------------
function Get-CutoverServerManager {
    if (-not ('Microsoft.Web.Administration.ServerManager' -as [type])) {
        try { Add-Type -AssemblyName 'Microsoft.Web.Administration, Version=7.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' }
        catch { [void][Reflection.Assembly]::LoadWithPartialName('Microsoft.Web.Administration') }
    }
    if (-not ('Microsoft.Web.Administration.ServerManager' -as [type])) {
        Stop-CutoverCall 'not_found' 'IIS (W3SVC) is not installed on this host'
    }
    return New-Object Microsoft.Web.Administration.ServerManager
}

function Get-CutoverObjectState($Object) {
    # 'started' / 'stopped' (reading State throws while WAS is stopped: 'stopped' then).
    try { return ([string]$Object.State).ToLowerInvariant() } catch { return 'stopped' }
}

function Get-CutoverIisService {
    $service = Get-Service -Name 'W3SVC' -ErrorAction SilentlyContinue
    if ($null -ne $service -and [string]$service.Status -eq 'Running') { return 'running' }
    return 'stopped'
}

function Find-CutoverIisApp($Manager, $Site, $App) {
    $siteName = Get-CutoverText $Site 'site'
    if (-not ($App -is [string])) { Stop-CutoverCall 'invalid' 'app must be a string' }
    $path = '/' + $App.Trim('/')
    $siteObject = @($Manager.Sites | Where-Object { $_.Name -eq $siteName }) | Select-Object -First 1
    $appObject = $null
    if ($null -ne $siteObject) { $appObject = @($siteObject.Applications | Where-Object { $_.Path -eq $path }) | Select-Object -First 1 }
    if ($null -eq $appObject) { Stop-CutoverCall 'not_found' "IIS application '$siteName/$($App.Trim('/'))' does not exist" }
    $root = @($appObject.VirtualDirectories | Where-Object { $_.Path -eq '/' }) | Select-Object -First 1
    return $root
}

# ------------------------------------------------------------------------------------------
# COM registration
# ------------------------------------------------------------------------------------------
function Test-CutoverComServer([string]$DllPath) {
    # True when some CLSID's InprocServer32 is this DLL (64- and 32-bit views).
    foreach ($view in @('Registry64', 'Registry32')) {
        $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', $view)
        $classes = $base.OpenSubKey('SOFTWARE\Classes\CLSID')
        if ($null -eq $classes) { continue }
        foreach ($clsid in $classes.GetSubKeyNames()) {
            $server = $classes.OpenSubKey($clsid + '\InprocServer32')
            if ($null -eq $server) { continue }
            $value = [string]$server.GetValue('')
            $server.Close()
            if ($value -ne '' -and [string]::Equals([Environment]::ExpandEnvironmentVariables($value).Trim('"'), $DllPath,
                    [StringComparison]::OrdinalIgnoreCase)) { return $true }
        }
    }
    return $false
}

# ------------------------------------------------------------------------------------------
# The primitives, keyed by the names of engine/connect/remote/spec.py
# ------------------------------------------------------------------------------------------
$CutoverPrimitives = @{
    'host.facts'        = {
        param($a)
        return [ordered]@{
            os        = 'windows'
            hostname  = $env:COMPUTERNAME
            user      = [Security.Principal.WindowsIdentity]::GetCurrent().Name
            simulated = $false
        }
    }

    'file.stat'         = {
        param($a)
        $path = Resolve-CutoverPath $a.path 'path'
        $follow = Get-CutoverFlag $a.follow $true 'follow'
        $item = Get-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
        if ($null -eq $item) { return [ordered]@{ exists = $false } }
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

    'file.hash'         = {
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

    'file.read'         = {
        param($a)
        $limit = Get-CutoverCount $a.max_bytes 'max_bytes'
        $path = Resolve-CutoverPath $a.path 'path'
        Assert-CutoverFile $path
        $stream = [IO.File]::OpenRead($path)
        try {
            $size = $stream.Length
            $want = if ($null -eq $limit) { $size } else { [Math]::Min($size, $limit) }
            $buffer = New-Object byte[] $want
            $read = 0
            while ($read -lt $want) {
                $n = $stream.Read($buffer, $read, $want - $read)
                if ($n -le 0) { break }
                $read += $n
            }
        }
        finally { $stream.Dispose() }
        return [ordered]@{ content_b64 = [Convert]::ToBase64String($buffer, 0, $read); size = [long]$size; truncated = ($read -lt $size) }
    }

    'file.write'        = {
        param($a)
        $data = ConvertFrom-CutoverBase64 $a.content_b64 'content_b64'
        $backup = Get-CutoverFlag $a.backup $false 'backup'
        $path = Resolve-CutoverPath $a.path 'path'
        if ([IO.Directory]::Exists($path)) { Stop-CutoverCall 'exists' "a folder exists at $path" }
        Assert-CutoverParent $path
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

    'file.mkdir'        = {
        param($a)
        $parents = Get-CutoverFlag $a.parents $true 'parents'
        $path = Resolve-CutoverPath $a.path 'path'
        if (-not $parents -and -not [IO.Directory]::Exists($path)) { Assert-CutoverParent $path }
        $created = New-CutoverDirectory $path
        $attrs = Set-CutoverAttrs $path $a.mode $a.owner $a.group
        return [ordered]@{ changed = ($created -or $attrs.changed) }
    }

    'file.remove'       = {
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

    'file.touch'        = {
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

    'file.attrs'        = {
        param($a)
        $path = Resolve-CutoverPath $a.path 'path'
        if (-not (Test-Path -LiteralPath $path)) { Stop-CutoverCall 'not_found' "Cannot find path '$path' because it does not exist." }
        return Set-CutoverAttrs $path $a.mode $a.owner $a.group
    }

    'file.copy'         = {
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

    'file.move'         = {
        param($a)
        $src = Resolve-CutoverPath $a.src 'src'
        $dest = Resolve-CutoverPath $a.dest 'dest'
        $same = [string]::Equals($src, $dest, [StringComparison]::OrdinalIgnoreCase)
        $srcExists = [IO.File]::Exists($src) -or [IO.Directory]::Exists($src)
        $destExists = [IO.File]::Exists($dest) -or [IO.Directory]::Exists($dest)
        if (-not $srcExists) {
            if ($destExists) { return [ordered]@{ changed = $false } }
            Stop-CutoverCall 'not_found' "Cannot find path '$src' because it does not exist."
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

    'file.list'         = {
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

    'file.tree_hash'    = {
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

    'archive.create'    = {
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

    'archive.verify'    = {
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

    'archive.list'      = {
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

    'archive.extract'   = {
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

    'process.run'       = {
        param($a)
        $argv = @($a.argv)
        if ($argv.Count -eq 0 -or -not ($argv[0] -is [string]) -or $argv[0] -eq '' -or
            @($argv | Where-Object { -not ($_ -is [string]) }).Count -gt 0) {
            Stop-CutoverCall 'invalid' 'argv must be a non-empty list of strings'
        }
        if (@($argv | Where-Object { $_.Contains([char]0) }).Count -gt 0) {
            Stop-CutoverCall 'invalid' 'argv must not contain NUL (a Windows command line would end there)'
        }
        $useShell = Get-CutoverFlag $a.shell $false 'shell'
        $timeout = $a.timeout
        if ($null -ne $timeout -and -not (($timeout -is [int] -or $timeout -is [long] -or $timeout -is [double] -or $timeout -is [decimal]) -and $timeout -gt 0)) {
            Stop-CutoverCall 'invalid' "timeout must be a number of seconds > 0, not '$timeout'"
        }
        $info = New-Object Diagnostics.ProcessStartInfo
        if ($useShell) {
            $info.FileName = $env:ComSpec
            $rest = Join-CutoverArguments @($argv | Select-Object -Skip 1)
            $line = (@($argv[0], $rest) | Where-Object { $_ -ne '' }) -join ' '
            $info.Arguments = '/d /s /c "' + $line + '"'
        }
        else {
            $info.FileName = $argv[0]
            $info.Arguments = Join-CutoverArguments @($argv | Select-Object -Skip 1)
        }
        if ($null -ne $a.cwd) {
            $cwd = Resolve-CutoverPath $a.cwd 'cwd'
            if (-not [IO.Directory]::Exists($cwd)) { Stop-CutoverCall 'not_found' "The directory name is invalid: $cwd does not exist" }
            $info.WorkingDirectory = $cwd
        }
        $environment = ConvertTo-CutoverTable $a.env
        foreach ($name in $environment.Keys) {
            if (($name + $environment[$name]).Contains([char]0)) { Stop-CutoverCall 'invalid' 'env must map names to string values without NUL' }
            $info.EnvironmentVariables[$name] = $environment[$name]
        }
        $stdin = if ($null -ne $a.stdin_b64) { ConvertFrom-CutoverBase64 $a.stdin_b64 'stdin_b64' } else { New-Object byte[] 0 }
        $encoding = [Text.Encoding]::GetEncoding([Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage)
        $info.UseShellExecute = $false
        $info.CreateNoWindow = $true
        $info.RedirectStandardInput = $true
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        $info.StandardOutputEncoding = $encoding
        $info.StandardErrorEncoding = $encoding
        $process = New-Object Diagnostics.Process
        $process.StartInfo = $info
        try { [void]$process.Start() }
        catch {
            $inner = $_.Exception.InnerException
            if ($inner -is [ComponentModel.Win32Exception] -and ($inner.NativeErrorCode -eq 2 -or $inner.NativeErrorCode -eq 3)) {
                return Get-CutoverNotRecognized $argv[0]
            }
            throw
        }
        $stdoutTask = $process.StandardOutput.ReadToEndAsync()
        $stderrTask = $process.StandardError.ReadToEndAsync()
        try { $process.StandardInput.BaseStream.Write($stdin, 0, $stdin.Length) } catch { }
        $process.StandardInput.Close()
        if ($null -ne $timeout) {
            if (-not $process.WaitForExit([int]([double]$timeout * 1000))) {
                [void](Invoke-CutoverProgram "$env:SystemRoot\System32\taskkill.exe" @('/T', '/F', '/PID', [string]$process.Id))
                $process.WaitForExit()
                Stop-CutoverCall 'timeout' "$($argv[0]) ran past its timeout of $timeout s and was stopped"
            }
        }
        $process.WaitForExit()
        return [ordered]@{ rc = [int]$process.ExitCode; stdout = $stdoutTask.Result; stderr = $stderrTask.Result }
    }

    'disk.free'         = {
        param($a)
        $path = Resolve-CutoverPath $a.path 'path'
        $root = [IO.Path]::GetPathRoot($path).TrimEnd('\') + '\'
        try { $space = [CutoverNative]::DiskSpace($root) }
        catch {
            $inner = $_.Exception.InnerException
            if ($inner -is [ComponentModel.Win32Exception] -and @(3, 15, 53, 67) -contains $inner.NativeErrorCode) {
                Stop-CutoverCall 'not_found' "drive or share $root does not exist"
            }
            throw
        }
        return [ordered]@{ free = [long]$space[0]; total = [long]$space[1] }
    }

    'http.get'          = {
        param($a)
        $url = Get-CutoverText $a.url 'url'
        if (-not ($url -match '^https?://')) { Stop-CutoverCall 'invalid' "not an http(s) URL: '$url'" }
        $limit = Get-CutoverCount $a.max_bytes 'max_bytes'
        $validate = Get-CutoverFlag $a.validate_certs $true 'validate_certs'
        $params = @{ Uri = $url; UseBasicParsing = $true; MaximumRedirection = 5; ErrorAction = 'Stop' }
        if ($null -ne $a.timeout) { $params['TimeoutSec'] = [int][Math]::Ceiling([double]$a.timeout) }
        $headers = ConvertTo-CutoverTable $a.headers
        if ($headers.Count -gt 0) { $params['Headers'] = $headers }
        [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
        $previous = [Net.ServicePointManager]::ServerCertificateValidationCallback
        if (-not $validate) { [Net.ServicePointManager]::ServerCertificateValidationCallback = { $true } }
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $answerHeaders = [ordered]@{}
        try {
            $response = Invoke-WebRequest @params
            $status = [int]$response.StatusCode
            foreach ($name in $response.Headers.Keys) { $answerHeaders[$name] = [string]$response.Headers[$name] }
            $content = $response.Content
            if ($content -is [byte[]]) { $body = [Text.Encoding]::UTF8.GetString($content) } else { $body = [string]$content }
        }
        catch [Net.WebException] {
            $failure = $_.Exception
            if ($failure.Status -eq [Net.WebExceptionStatus]::Timeout) { Stop-CutoverCall 'timeout' "no answer from $url in time" }
            if ($null -eq $failure.Response) { Stop-CutoverCall 'failed' $failure.Message }
            $status = [int]$failure.Response.StatusCode
            foreach ($name in $failure.Response.Headers.AllKeys) { $answerHeaders[$name] = [string]$failure.Response.Headers[$name] }
            $reader = New-Object IO.StreamReader ($failure.Response.GetResponseStream())
            try { $body = $reader.ReadToEnd() } finally { $reader.Dispose() }
        }
        finally { [Net.ServicePointManager]::ServerCertificateValidationCallback = $previous }
        if ($null -ne $limit) {
            $raw = [Text.Encoding]::UTF8.GetBytes($body)
            if ($raw.Length -gt $limit) { $body = [Text.Encoding]::UTF8.GetString($raw, 0, $limit) }
        }
        return [ordered]@{ status = $status; headers = $answerHeaders; body = $body; elapsed = $clock.Elapsed.TotalSeconds }
    }

    'net.port'          = {
        param($a)
        $port = $a.port
        if (-not (($port -is [int] -or $port -is [long]) -and $port -gt 0 -and $port -lt 65536)) {
            Stop-CutoverCall 'invalid' "port must be a number from 1 to 65535, not '$port'"
        }
        $address = if ($null -eq $a.address) { 'localhost' } else { [string]$a.address }
        $wait = if ($null -eq $a.timeout) { 3000 } else { [int]([double]$a.timeout * 1000) }
        $client = New-Object Net.Sockets.TcpClient
        try {
            $pending = $client.BeginConnect($address, [int]$port, $null, $null)
            $open = $false
            if ($pending.AsyncWaitHandle.WaitOne($wait)) {
                try { $client.EndConnect($pending); $open = $true } catch { $open = $false }
            }
        }
        catch { $open = $false }
        finally { $client.Close() }
        return [ordered]@{ open = $open }
    }

    'service.get'       = {
        param($a)
        $info = Get-CutoverServiceInfo (Get-CutoverText $a.name 'name')
        if ($null -eq $info) { return [ordered]@{ exists = $false; state = 'unknown'; start_mode = 'unknown' } }
        $state = Get-CutoverServiceState $info
        return [ordered]@{ exists = $true; state = $state.state; start_mode = $state.start_mode; path = [string]$info.PathName }
    }

    'service.set'       = {
        param($a)
        $name = Get-CutoverText $a.name 'name'
        $want = if ($null -eq $a.state) { $null } else { Get-CutoverChoice $a.state 'state' @('running', 'stopped', 'restarted') }
        $mode = if ($null -eq $a.start_mode) { $null } else { Get-CutoverChoice $a.start_mode 'start_mode' @('auto', 'manual', 'disabled') }
        $seconds = if ($null -eq $a.timeout) { 120 } else { [double]$a.timeout }
        $info = Get-CutoverServiceInfo $name
        if ($null -eq $info) { Stop-CutoverCall 'not_found' "Cannot find any service with service name '$name'." }
        $before = Get-CutoverServiceState $info
        $controller = New-Object System.ServiceProcess.ServiceController ([string]$info.Name)
        $span = [TimeSpan]::FromSeconds($seconds)
        if ($null -ne $mode -and $mode -ne $before.start_mode) {
            $startup = @{ auto = 'Automatic'; manual = 'Manual'; disabled = 'Disabled' }[$mode]
            Set-Service -InputObject $controller -StartupType $startup
        }
        $disabled = ($null -ne $mode -and $mode -eq 'disabled') -or ($null -eq $mode -and $before.start_mode -eq 'disabled')
        if (($want -eq 'running' -or $want -eq 'restarted') -and $disabled) {
            Stop-CutoverCall 'failed' "Service '$name' cannot be started: the service is disabled (start mode disabled)."
        }
        if ($want -eq 'stopped' -or $want -eq 'restarted') {
            if ($controller.Status -ne 'Stopped') { Stop-Service -InputObject $controller -Force }
            $controller.WaitForStatus('Stopped', $span)
        }
        if ($want -eq 'running' -or $want -eq 'restarted') {
            $controller.Refresh()
            if ($controller.Status -ne 'Running') { Start-Service -InputObject $controller }
            $controller.WaitForStatus('Running', $span)
        }
        $after = Get-CutoverServiceState (Get-CutoverServiceInfo $name)
        $changed = ($before.state -ne $after.state) -or ($before.start_mode -ne $after.start_mode) -or ($want -eq 'restarted')
        return [ordered]@{ changed = $changed; before = $before; after = $after }
    }

    'service.install'   = {
        param($a)
        $name = Get-CutoverText $a.name 'name'
        $executable = Get-CutoverText $a.executable 'executable'
        return Invoke-CutoverServiceProgram $name $executable (Get-CutoverArguments $a.arguments '/i') $true
    }

    'service.uninstall' = {
        param($a)
        $name = Get-CutoverText $a.name 'name'
        $executable = Get-CutoverText $a.executable 'executable'
        return Invoke-CutoverServiceProgram $name $executable (Get-CutoverArguments $a.arguments '/u') $false
    }

    'registry.get'      = {
        param($a)
        $parts = Split-CutoverKey $a.key
        $regKey = Open-CutoverKey $parts $false $false
        if ($null -eq $regKey) { return [ordered]@{ exists = $false; values = [ordered]@{}; subkeys = [object[]]@() } }
        try {
            $values = [ordered]@{}
            $only = $a.name
            if ($null -ne $only -and -not ($only -is [string])) { Stop-CutoverCall 'invalid' "name must be a string ('' is the default value)" }
            foreach ($valueName in $regKey.GetValueNames()) {
                if ($null -ne $only -and $valueName -ne $only) { continue }
                $values[$valueName] = Get-CutoverRegValue $regKey $valueName
            }
            $subkeys = $regKey.GetSubKeyNames()
            [Array]::Sort($subkeys, [StringComparer]::OrdinalIgnoreCase)
        }
        finally { $regKey.Close() }
        return [ordered]@{ exists = $true; values = $values; subkeys = [object[]]@($subkeys) }
    }

    'registry.set'      = {
        param($a)
        $parts = Split-CutoverKey $a.key
        $name = $a.name
        if (-not ($name -is [string]) -or $name.Contains([char]0)) { Stop-CutoverCall 'invalid' "name must be a string without NUL ('' is the default value)" }
        $type = if ($null -eq $a.type) { '' } else { [string]$a.type }
        $new = ConvertTo-CutoverRegData $a.data $type
        $regKey = Open-CutoverKey $parts $true $true
        try {
            $before = $null
            if (@($regKey.GetValueNames()) -contains $name) { $before = Get-CutoverRegValue $regKey $name }
            $wanted = [ordered]@{ type = $new.type; data = $new.data }
            $changed = $null -eq $before -or ((ConvertTo-Json -InputObject $before -Compress) -ne (ConvertTo-Json -InputObject $wanted -Compress))
            if ($changed) { $regKey.SetValue($name, $new.value, [Microsoft.Win32.RegistryValueKind]$CutoverRegTypes[$new.type]) }
        }
        finally { $regKey.Close() }
        return [ordered]@{ changed = $changed; before = $before }
    }

    'registry.export'   = {
        param($a)
        $parts = Split-CutoverKey $a.key
        $regKey = Open-CutoverKey $parts $false $false
        if ($null -eq $regKey) { Stop-CutoverCall 'not_found' "The system was unable to find the specified registry key: $($parts.full)" }
        $regKey.Close()
        $dest = Resolve-CutoverPath $a.dest 'dest'
        if ([IO.Directory]::Exists($dest)) { Stop-CutoverCall 'exists' "a folder exists at $dest" }
        Assert-CutoverParent $dest
        $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\reg.exe" @('export', $parts.full, $dest, '/y')
        if ($rc -ne 0) { Stop-CutoverCall 'failed' "reg.exe export exited with $rc" }
        return [ordered]@{ sha256 = Get-CutoverFileSha256 $dest; size = [long](Get-Item -LiteralPath $dest -Force).Length }
    }

    'registry.import'   = {
        param($a)
        $path = Resolve-CutoverPath $a.path 'path'
        Assert-CutoverFile $path
        $text = [IO.File]::ReadAllText($path)
        if (-not ($text.TrimStart([char]0xFEFF).StartsWith('Windows Registry Editor Version 5.00') -or $text.StartsWith('REGEDIT4'))) {
            Stop-CutoverCall 'invalid' "not a .reg file: the first line must be 'Windows Registry Editor Version 5.00'"
        }
        $keys = @([regex]::Matches($text, '(?m)^\s*\[-?([^\]\r\n]+)\]\s*$') | ForEach-Object { $_.Groups[1].Value })
        $before = Get-CutoverRegSnapshot $keys
        if ($a.replace -eq $true -and $keys.Count -gt 0 -and -not $keys[0].StartsWith('-')) {
            $top = Split-CutoverKey $keys[0]
            $existing = Open-CutoverKey $top $false $false
            if ($null -ne $existing) {
                $existing.Close()
                $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\reg.exe" @('delete', $top.full, '/f')
                if ($rc -ne 0) { Stop-CutoverCall 'failed' "reg.exe delete exited with $rc" }
            }
        }
        $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\reg.exe" @('import', $path)
        if ($rc -ne 0) { Stop-CutoverCall 'failed' "reg.exe import exited with $rc" }
        $after = Get-CutoverRegSnapshot $keys
        return [ordered]@{ changed = ($before -ne $after); sha256 = Get-CutoverFileSha256 $path }
    }

    'iis.state'         = {
        param($a)
        $manager = Get-CutoverServerManager
        $sites = [ordered]@{}
        $pools = [ordered]@{}
        $apps = [ordered]@{}
        foreach ($site in $manager.Sites) {
            $sites[$site.Name] = Get-CutoverObjectState $site
            foreach ($app in $site.Applications) {
                $root = @($app.VirtualDirectories | Where-Object { $_.Path -eq '/' }) | Select-Object -First 1
                $physical = if ($null -eq $root) { '' } else { [Environment]::ExpandEnvironmentVariables([string]$root.PhysicalPath) }
                $apps[$site.Name + '/' + $app.Path.Trim('/')] = [ordered]@{ physical_path = $physical; pool = [string]$app.ApplicationPoolName }
            }
        }
        foreach ($pool in $manager.ApplicationPools) { $pools[$pool.Name] = Get-CutoverObjectState $pool }
        return [ordered]@{ service = Get-CutoverIisService; sites = $sites; pools = $pools; apps = $apps }
    }

    'iis.set_state'     = {
        param($a)
        $kind = Get-CutoverChoice $a.kind 'kind' @('site', 'pool')
        $state = Get-CutoverChoice $a.state 'state' @('started', 'stopped')
        $name = Get-CutoverText $a.name 'name'
        $manager = Get-CutoverServerManager
        $table = if ($kind -eq 'site') { $manager.Sites } else { $manager.ApplicationPools }
        $object = @($table | Where-Object { $_.Name -eq $name }) | Select-Object -First 1
        if ($null -eq $object) { Stop-CutoverCall 'not_found' "IIS $kind '$name' does not exist" }
        $before = Get-CutoverObjectState $object
        if ($before -ne $state) {
            if ($state -eq 'started') { [void]$object.Start() } else { [void]$object.Stop() }
        }
        return [ordered]@{ changed = ($before -ne $state); before = $before }
    }

    'iis.recycle'       = {
        param($a)
        $name = Get-CutoverText $a.pool 'pool'
        $manager = Get-CutoverServerManager
        $pool = @($manager.ApplicationPools | Where-Object { $_.Name -eq $name }) | Select-Object -First 1
        if ($null -eq $pool) { Stop-CutoverCall 'not_found' "IIS application pool '$name' does not exist" }
        if ((Get-CutoverObjectState $pool) -ne 'started') { Stop-CutoverCall 'failed' "application pool '$name' is stopped and cannot be recycled" }
        [void]$pool.Recycle()
        return [ordered]@{ changed = $true }
    }

    'iis.get_path'      = {
        param($a)
        $root = Find-CutoverIisApp (Get-CutoverServerManager) $a.site $a.app
        return [ordered]@{ physical_path = [Environment]::ExpandEnvironmentVariables([string]$root.PhysicalPath) }
    }

    'iis.set_path'      = {
        param($a)
        $path = Resolve-CutoverPath $a.path 'path'
        $manager = Get-CutoverServerManager
        $root = Find-CutoverIisApp $manager $a.site $a.app
        $before = [Environment]::ExpandEnvironmentVariables([string]$root.PhysicalPath)
        $changed = -not [string]::Equals($before, $path, [StringComparison]::OrdinalIgnoreCase)
        if ($changed) {
            $root.PhysicalPath = $path
            $manager.CommitChanges()
        }
        return [ordered]@{ changed = $changed; before = $before }
    }

    'iis.reset'         = {
        param($a)
        $action = Get-CutoverChoice $a.action 'action' @('stop', 'start', 'restart')
        [void](Get-CutoverServerManager)
        $before = Get-CutoverIisService
        $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\iisreset.exe" @("/$action")
        if ($rc -ne 0) { Stop-CutoverCall 'failed' "iisreset /$action exited with $rc" }
        $after = Get-CutoverIisService
        return [ordered]@{ changed = ($action -eq 'restart' -or $before -ne $after); before = $before }
    }

    'dll.register'      = {
        param($a)
        $unregister = Get-CutoverFlag $a.unregister $false 'unregister'
        $path = Resolve-CutoverPath $a.path 'path'
        if (-not [IO.File]::Exists($path)) {
            Stop-CutoverCall 'not_found' "regsvr32 exited with 3: LoadLibrary(`"$path`") failed - the module could not be found."
        }
        $before = Test-CutoverComServer $path
        $flags = if ($unregister) { @('/s', '/u', $path) } else { @('/s', $path) }
        $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\regsvr32.exe" $flags
        if ($rc -ne 0) {
            $kind = if ($rc -eq 3) { 'not_found' } else { 'failed' }
            Stop-CutoverCall $kind "regsvr32 exited with $rc for $path"
        }
        $registered = if ($unregister) { $null } else { $path }
        return [ordered]@{ changed = ($before -eq $unregister); rc = $rc; registered_path = $registered }
    }

    'dll.registered'    = {
        param($a)
        $name = Get-CutoverText $a.clsid_name 'clsid_name'
        if ($name.Contains('\')) { Stop-CutoverCall 'invalid' "'$name' is not a COM class name" }
        foreach ($view in @('Registry64', 'Registry32')) {
            $classes = [Microsoft.Win32.RegistryKey]::OpenBaseKey('ClassesRoot', $view)
            $progId = $classes.OpenSubKey($name + '\CLSID')
            if ($null -eq $progId) { continue }
            $clsid = [string]$progId.GetValue('')
            $progId.Close()
            $server = $classes.OpenSubKey('CLSID\' + $clsid + '\InprocServer32')
            if ($null -eq $server) { continue }
            $path = [Environment]::ExpandEnvironmentVariables([string]$server.GetValue('')).Trim('"')
            $server.Close()
            return [ordered]@{ registered = $true; path = $path }
        }
        return [ordered]@{ registered = $false; path = $null }
    }
}

# ------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------
function Invoke-CutoverCall($Call) {
    # One call -> one answer; a failure is an answer, never an exception.
    try {
        $op = [string]$Call.op
        if (-not $CutoverPrimitives.ContainsKey($op)) {
            return [ordered]@{ ok = $false; error = "$op`: not a primitive of Windows hosts"; kind = 'unsupported' }
        }
        $arguments = $Call.args
        if ($null -eq $arguments) { $arguments = New-Object PSObject }
        $handler = $CutoverPrimitives[$op]
        $output = @(& $handler $arguments)
        $value = if ($output.Count -gt 0) { $output[$output.Count - 1] } else { $null }
        return [ordered]@{ ok = $true; value = $value }
    }
    catch {
        $message = $_.Exception.Message
        if ($_.Exception.Data.Contains('cutover_kind') -eq $false -and $null -ne $_.Exception.InnerException) {
            $message = $_.Exception.InnerException.Message
        }
        return [ordered]@{ ok = $false; error = $message; kind = (Get-CutoverErrorKind $_.Exception) }
    }
}

function Invoke-CutoverBatch([string]$Json) {
    # The JSON list of calls -> the JSON list of answers, in order (a failed call does not stop the rest).
    $ErrorActionPreference = 'Stop'
    $ProgressPreference = 'SilentlyContinue'
    $answers = New-Object System.Collections.ArrayList
    try { $calls = ConvertFrom-Json -InputObject $Json }
    catch { return (ConvertTo-Json -InputObject @([ordered]@{ ok = $false; error = 'the batch is not valid JSON'; kind = 'invalid' }) -Compress) }
    foreach ($call in @($calls)) {
        $answer = @(Invoke-CutoverCall $call)
        [void]$answers.Add($answer[$answer.Count - 1])
    }
    return (ConvertTo-Json -InputObject ([object[]]$answers.ToArray()) -Depth 10 -Compress)
}

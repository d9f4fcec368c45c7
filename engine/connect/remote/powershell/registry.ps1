# The registry.* primitives: get, set, export, import. Keys are reached through
# Microsoft.Win32.RegistryKey with the names as data; export and import use reg.exe by exit code.

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

# registry.get: the values (or one value) and subkey names of a key.
function Invoke-CutoverRegistryGet {
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

# registry.set: write one value when it differs, typed as asked or as its data suggests.
function Invoke-CutoverRegistrySet {
    param($a)
    $parts = Split-CutoverKey $a.key
    $name = $a.name
    if (-not ($name -is [string]) -or $name.IndexOf([char]0) -ge 0) { Stop-CutoverCall 'invalid' "name must be a string without NUL ('' is the default value)" }
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

# registry.export: reg.exe export of a key to a .reg file.
function Invoke-CutoverRegistryExport {
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

# registry.import: reg.exe import of a .reg file, optionally deleting its top key first.
function Invoke-CutoverRegistryImport {
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

# The dll.* primitives: register (regsvr32, by exit code) and registered (which DLL serves a
# COM class), looking in both the 64-bit and the 32-bit registry views.

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

function Get-CutoverPeMachine([string]$Path) {
    # The Machine field of a DLL's COFF header, read only: 0x014c x86, 0x8664 x64, 0 when the file
    # is no PE image (IMAGE_FILE_HEADER, https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-image_file_header;
    # the PE signature's offset is the DWORD at 0x3C).
    $stream = New-Object IO.FileStream($Path, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
    try {
        $reader = New-Object IO.BinaryReader($stream)
        if ($stream.Length -lt 64 -or $reader.ReadUInt16() -ne 0x5A4D) { return 0 }  # 'MZ'
        [void]$stream.Seek(0x3C, [IO.SeekOrigin]::Begin)
        $offset = [long]$reader.ReadUInt32()
        if ($offset + 6 -gt $stream.Length) { return 0 }
        [void]$stream.Seek($offset, [IO.SeekOrigin]::Begin)
        if ($reader.ReadUInt32() -ne 0x00004550) { return 0 }  # 'PE\0\0'
        return [int]$reader.ReadUInt16()
    }
    finally { $stream.Close() }
}

function Get-CutoverRegsvr32([int]$Machine) {
    # The regsvr32.exe of the DLL's bitness: on 64-bit Windows the 32-bit one is
    # %windir%\SysWOW64\regsvr32.exe and a 64-bit process cannot load a 32-bit DLL
    # (https://learn.microsoft.com/en-us/windows/win32/winprog64/running-32-bit-applications); a 32-bit
    # helper reaches the 64-bit System32 through Sysnative (File System Redirector,
    # https://learn.microsoft.com/en-us/windows/win32/winprog64/file-system-redirector).
    $root = $env:SystemRoot
    if (-not [Environment]::Is64BitOperatingSystem) { return "$root\System32\regsvr32.exe" }
    if ($Machine -eq 0x014c) { return "$root\SysWOW64\regsvr32.exe" }
    if ([Environment]::Is64BitProcess) { return "$root\System32\regsvr32.exe" }
    return "$root\Sysnative\regsvr32.exe"
}

# dll.register: regsvr32 a DLL (or unregister it), with the regsvr32.exe of the DLL's bitness.
function Invoke-CutoverDllRegister {
    param($a)
    $unregister = Get-CutoverFlag $a.unregister $false 'unregister'
    $path = Resolve-CutoverPath $a.path 'path'
    if (-not [IO.File]::Exists($path)) {
        Stop-CutoverCall 'not_found' "regsvr32 exited with 3: LoadLibrary(`"$path`") failed - the module could not be found."
    }
    $before = Test-CutoverComServer $path
    $flags = if ($unregister) { @('/s', '/u', $path) } else { @('/s', $path) }
    $machine = Get-CutoverPeMachine $path
    $regsvr32 = Get-CutoverRegsvr32 $machine
    $rc = Invoke-CutoverProgram $regsvr32 $flags
    if ($rc -ne 0) {
        $kind = if ($rc -eq 3) { 'not_found' } else { 'failed' }
        Stop-CutoverCall $kind "$regsvr32 exited with $rc for $path"
    }
    $registered = if ($unregister) { $null } else { $path }
    $arch = if ($machine -eq 0x014c) { 'x86' } elseif ($machine -eq 0x8664) { 'x64' } else { 'unknown' }
    return [ordered]@{ changed = ($before -eq $unregister); rc = $rc; registered_path = $registered; machine = $arch; regsvr32 = $regsvr32 }
}

# dll.registered: whether a COM class is registered and which DLL serves it.
function Invoke-CutoverDllRegistered {
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

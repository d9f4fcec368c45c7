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

# dll.register: regsvr32 a DLL (or unregister it).
function Invoke-CutoverDllRegister {
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

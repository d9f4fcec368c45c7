# The service.* primitives: get, set (state and start mode, with a timeout), install, uninstall.
# Services are found through CIM by exact name and driven through ServiceController.

Add-Type -AssemblyName System.ServiceProcess

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

function Invoke-CutoverServiceInstaller([string]$Name, [string]$Executable, $Arguments, [bool]$WantInstalled) {
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

function Get-CutoverArguments($Value, [string]$Default) {
    if ($null -eq $Value) { return , @($Default) }
    if ($Value -is [string]) { return , @($Value.Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries)) }
    $list = @($Value)
    foreach ($item in $list) { if (-not ($item -is [string])) { Stop-CutoverCall 'invalid' 'arguments must be a string or a list of strings' } }
    return , $list
}

# service.get: a service's state, start mode and executable path.
function Invoke-CutoverServiceGet {
    param($a)
    $info = Get-CutoverServiceInfo (Get-CutoverText $a.name 'name')
    if ($null -eq $info) { return [ordered]@{ exists = $false; state = 'unknown'; start_mode = 'unknown' } }
    $state = Get-CutoverServiceState $info
    return [ordered]@{ exists = $true; state = $state.state; start_mode = $state.start_mode; path = [string]$info.PathName }
}

# service.set: bring a service to a state and start mode, waiting up to the timeout.
function Invoke-CutoverServiceSet {
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

# service.install: run the service's own installer (/i by default) unless it is installed.
function Invoke-CutoverServiceInstall {
    param($a)
    $name = Get-CutoverText $a.name 'name'
    $executable = Get-CutoverText $a.executable 'executable'
    return Invoke-CutoverServiceInstaller $name $executable (Get-CutoverArguments $a.arguments '/i') $true
}

# service.uninstall: run the service's own uninstaller (/u by default) if it is installed.
function Invoke-CutoverServiceUninstall {
    param($a)
    $name = Get-CutoverText $a.name 'name'
    $executable = Get-CutoverText $a.executable 'executable'
    return Invoke-CutoverServiceInstaller $name $executable (Get-CutoverArguments $a.arguments '/u') $false
}

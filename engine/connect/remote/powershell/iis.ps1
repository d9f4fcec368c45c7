# The iis.* primitives: state, set_state, recycle, get_path, set_path, reset, through
# Microsoft.Web.Administration (the library behind the IIS cmdlets).

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

# iis.state: every site, pool and application with its state, pool and physical path, and each
# pool's enable32BitAppOnWin64.
function Invoke-CutoverIisState {
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
    $pools32 = [ordered]@{}
    foreach ($pool in $manager.ApplicationPools) {
        $pools[$pool.Name] = Get-CutoverObjectState $pool
        # enable32BitAppOnWin64: whether the pool's w3wp.exe is a 32-bit process, the only kind that
        # loads a 32-bit ISAPI DLL such as eware.dll (https://learn.microsoft.com/en-us/previous-versions/iis/settings-schema/aa347554(v=vs.90))
        $pools32[$pool.Name] = [bool]$pool.Enable32BitAppOnWin64
    }
    return [ordered]@{ service = Get-CutoverIisService; sites = $sites; pools = $pools; apps = $apps; pools_32bit = $pools32 }
}

function Wait-CutoverPoolStopped($Pool, [int[]]$Workers, [DateTime]$Deadline) {
    # ApplicationPool.Stop() returns while the pool is Stopping and before its w3wp.exe processes
    # exit, and those keep the application's files open: wait for both, within the deadline.
    while ((Get-CutoverObjectState $Pool) -ne 'stopped') {
        if ([DateTime]::UtcNow -ge $Deadline) {
            Stop-CutoverCall 'timeout' "application pool '$($Pool.Name)' is still $(Get-CutoverObjectState $Pool) at the step's deadline"
        }
        Start-Sleep -Milliseconds 250
    }
    foreach ($id in $Workers) {
        try { $process = [Diagnostics.Process]::GetProcessById($id) } catch { continue }  # gone already
        $left = [int][Math]::Max(0, ($Deadline - [DateTime]::UtcNow).TotalMilliseconds)
        if (-not $process.WaitForExit($left)) {
            Stop-CutoverCall 'timeout' "w3wp.exe (PID $id) of application pool '$($Pool.Name)' still runs at the step's deadline; its files stay locked"
        }
    }
}

# iis.set_state: start or stop one site or application pool (a pool's worker processes waited for).
function Invoke-CutoverIisSetState {
    param($a)
    $kind = Get-CutoverChoice $a.kind 'kind' @('site', 'pool')
    $state = Get-CutoverChoice $a.state 'state' @('started', 'stopped')
    $name = Get-CutoverText $a.name 'name'
    $seconds = if ($null -eq $a.timeout) { 120 } else { [double]$a.timeout }
    $deadline = [DateTime]::UtcNow.AddSeconds($seconds)
    $manager = Get-CutoverServerManager
    $table = if ($kind -eq 'site') { $manager.Sites } else { $manager.ApplicationPools }
    $object = @($table | Where-Object { $_.Name -eq $name }) | Select-Object -First 1
    if ($null -eq $object) { Stop-CutoverCall 'not_found' "IIS $kind '$name' does not exist" }
    $before = Get-CutoverObjectState $object
    $workers = @()
    if ($kind -eq 'pool') { $workers = @($object.WorkerProcesses | ForEach-Object { [int]$_.ProcessId }) }
    if ($before -ne $state) {
        if ($state -eq 'started') { [void]$object.Start() } else { [void]$object.Stop() }
    }
    if ($kind -eq 'pool' -and $state -eq 'stopped') { Wait-CutoverPoolStopped $object $workers $deadline }
    else { $workers = @() }
    return [ordered]@{ changed = ($before -ne $state); before = $before; workers_exited = [object[]]@($workers) }
}

# iis.recycle: recycle a started application pool.
function Invoke-CutoverIisRecycle {
    param($a)
    $name = Get-CutoverText $a.pool 'pool'
    $manager = Get-CutoverServerManager
    $pool = @($manager.ApplicationPools | Where-Object { $_.Name -eq $name }) | Select-Object -First 1
    if ($null -eq $pool) { Stop-CutoverCall 'not_found' "IIS application pool '$name' does not exist" }
    if ((Get-CutoverObjectState $pool) -ne 'started') { Stop-CutoverCall 'failed' "application pool '$name' is stopped and cannot be recycled" }
    [void]$pool.Recycle()
    return [ordered]@{ changed = $true }
}

# iis.get_path: the physical path of an application.
function Invoke-CutoverIisGetPath {
    param($a)
    $root = Find-CutoverIisApp (Get-CutoverServerManager) $a.site $a.app
    return [ordered]@{ physical_path = [Environment]::ExpandEnvironmentVariables([string]$root.PhysicalPath) }
}

# iis.set_path: point an application at another folder.
function Invoke-CutoverIisSetPath {
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

# iis.reset: iisreset /stop, /start or /restart.
function Invoke-CutoverIisReset {
    param($a)
    $action = Get-CutoverChoice $a.action 'action' @('stop', 'start', 'restart')
    [void](Get-CutoverServerManager)
    $before = Get-CutoverIisService
    $rc = Invoke-CutoverProgram "$env:SystemRoot\System32\iisreset.exe" @("/$action")
    if ($rc -ne 0) { Stop-CutoverCall 'failed' "iisreset /$action exited with $rc" }
    $after = Get-CutoverIisService
    return [ordered]@{ changed = ($action -eq 'restart' -or $before -ne $after); before = $before }
}

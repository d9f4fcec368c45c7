# The entry point: the table from primitive names (engine/connect/remote/spec.py) to the functions
# that answer them, one call turned into one answer, and the JSON batch in and out.

$CutoverPrimitives = @{
    'host.facts'        = 'Invoke-CutoverHostFacts'
    'file.stat'         = 'Invoke-CutoverFileStat'
    'file.hash'         = 'Invoke-CutoverFileHash'
    'file.read'         = 'Invoke-CutoverFileRead'
    'file.write'        = 'Invoke-CutoverFileWrite'
    'file.mkdir'        = 'Invoke-CutoverFileMkdir'
    'file.remove'       = 'Invoke-CutoverFileRemove'
    'file.touch'        = 'Invoke-CutoverFileTouch'
    'file.attrs'        = 'Invoke-CutoverFileAttrs'
    'file.copy'         = 'Invoke-CutoverFileCopy'
    'file.move'         = 'Invoke-CutoverFileMove'
    'file.list'         = 'Invoke-CutoverFileList'
    'file.tree_hash'    = 'Invoke-CutoverFileTreeHash'
    'archive.create'    = 'Invoke-CutoverArchiveCreate'
    'archive.verify'    = 'Invoke-CutoverArchiveVerify'
    'archive.list'      = 'Invoke-CutoverArchiveList'
    'archive.extract'   = 'Invoke-CutoverArchiveExtract'
    'process.run'       = 'Invoke-CutoverProcessRun'
    'disk.free'         = 'Invoke-CutoverDiskFree'
    'file.acl'          = 'Invoke-CutoverFileAcl'
    'http.get'          = 'Invoke-CutoverHttpGet'
    'net.port'          = 'Invoke-CutoverNetPort'
    'service.get'       = 'Invoke-CutoverServiceGet'
    'service.set'       = 'Invoke-CutoverServiceSet'
    'service.install'   = 'Invoke-CutoverServiceInstall'
    'service.uninstall' = 'Invoke-CutoverServiceUninstall'
    'registry.get'      = 'Invoke-CutoverRegistryGet'
    'registry.set'      = 'Invoke-CutoverRegistrySet'
    'registry.export'   = 'Invoke-CutoverRegistryExport'
    'registry.import'   = 'Invoke-CutoverRegistryImport'
    'iis.state'         = 'Invoke-CutoverIisState'
    'iis.set_state'     = 'Invoke-CutoverIisSetState'
    'iis.recycle'       = 'Invoke-CutoverIisRecycle'
    'iis.get_path'      = 'Invoke-CutoverIisGetPath'
    'iis.set_path'      = 'Invoke-CutoverIisSetPath'
    'iis.reset'         = 'Invoke-CutoverIisReset'
    'dll.register'      = 'Invoke-CutoverDllRegister'
    'dll.registered'    = 'Invoke-CutoverDllRegistered'
    'lock.take'         = 'Invoke-CutoverLockTake'
    'lock.beat'         = 'Invoke-CutoverLockBeat'
    'lock.inspect'      = 'Invoke-CutoverLockInspect'
    'lock.release'      = 'Invoke-CutoverLockRelease'
}

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

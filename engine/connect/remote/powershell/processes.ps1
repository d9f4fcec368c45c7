# Running programs: one argument vector quoted so CommandLineToArgvW gives it back unchanged,
# the program helpers other groups use (reg.exe, regsvr32, iisreset, taskkill), and process.run.

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

# process.run: run a program (or cmd.exe /c when shell is on) to its end or its timeout.
function Invoke-CutoverProcessRun {
    param($a)
    $argv = @($a.argv)
    if ($argv.Count -eq 0 -or -not ($argv[0] -is [string]) -or $argv[0] -eq '' -or
        @($argv | Where-Object { -not ($_ -is [string]) }).Count -gt 0) {
        Stop-CutoverCall 'invalid' 'argv must be a non-empty list of strings'
    }
    if (@($argv | Where-Object { $_.IndexOf([char]0) -ge 0 }).Count -gt 0) {
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
        if (($name + $environment[$name]).IndexOf([char]0) -ge 0) { Stop-CutoverCall 'invalid' 'env must map names to string values without NUL' }
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

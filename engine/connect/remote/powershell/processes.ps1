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

function Get-CutoverOemEncoding {
    # The system's OEM code page as an encoding: what console programs write (below) and what zip
    # tools that do not set the UTF-8 flag write entry names in (Explorer's zips; archives.ps1).
    # What a program started here writes to its redirected stdout/stderr: CreateNoWindow gives it a
    # console of its own, not the helper's (whose code page is the shell's 65001), and a new console
    # starts in the system's OEM code page (850 on a French or German server, 437 on a US one), the
    # code page console programs use (https://learn.microsoft.com/windows/console/console-code-pages,
    # https://devblogs.microsoft.com/oldnewthing/20050308-00/?p=36253). The system's, set with the
    # system locale: the OEMCP value under HKLM\SYSTEM\CurrentControlSet\Control\Nls\CodePage, what
    # GetOEMCP returns; not the account's culture (CurrentCulture.TextInfo.OEMCodePage), which a
    # French administrator on a US-locale server would set to 850 while programs write 437.
    $oem = $null
    try { $oem = [Microsoft.Win32.Registry]::GetValue('HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Nls\CodePage', 'OEMCP', $null) } catch { }
    $page = 0
    if ($null -eq $oem -or -not [int]::TryParse([string]$oem, [ref]$page) -or $page -le 0) {
        $page = [Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage
    }
    return [Text.Encoding]::GetEncoding($page)
}

function Get-CutoverLogTail([string]$Path) {
    # The last non-empty line of a log a running program writes ('' while there is none). Opened
    # with FileShare ReadWrite and Delete so the writer is never disturbed; only its end is read.
    # UTF-16 when the file starts with its BOM (InstallShield writes such logs), UTF-8 otherwise.
    $stream = $null
    try {
        $stream = New-Object IO.FileStream -ArgumentList $Path, ([IO.FileMode]::Open), ([IO.FileAccess]::Read), ([IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete)
        $head = New-Object byte[] 2
        $headLength = $stream.Read($head, 0, 2)
        $start = [Math]::Max([long]0, $stream.Length - 4096)
        [void]$stream.Seek($start, [IO.SeekOrigin]::Begin)
        $buffer = New-Object byte[] ([int]($stream.Length - $start))
        $read = $stream.Read($buffer, 0, $buffer.Length)
    }
    catch { return '' }
    finally { if ($null -ne $stream) { $stream.Dispose() } }
    $encoding = New-Object Text.UTF8Encoding -ArgumentList $false
    $skip = 0
    if ($headLength -eq 2 -and $head[0] -eq 0xFF -and $head[1] -eq 0xFE) { $encoding = [Text.Encoding]::Unicode; $skip = $read % 2 }
    elseif ($headLength -eq 2 -and $head[0] -eq 0xFE -and $head[1] -eq 0xFF) { $encoding = [Text.Encoding]::BigEndianUnicode; $skip = $read % 2 }
    $text = $encoding.GetString($buffer, $skip, $read - $skip).TrimStart([char]0xFEFF)
    $lines = @($text.Split([char[]]@([char]13, [char]10)) | Where-Object { $_.Trim() -ne '' })
    if ($lines.Count -eq 0) { return '' }
    $last = $lines[$lines.Count - 1].Trim()
    if ($last.Length -gt 500) { $last = $last.Substring(0, 500) }
    return $last
}

function Send-CutoverProgress($Values) {
    # An interim frame before the batch's answer (engine/connect/winrm_framing.py): written straight
    # to the console's stdout, so it leaves now and never joins the batch's own output.
    $json = ConvertTo-Json -InputObject $Values -Compress
    $bytes = (New-Object Text.UTF8Encoding -ArgumentList $false).GetBytes($json)
    [Console]::Out.WriteLine('@@CUTOVER-PROGRESS@@' + [Convert]::ToBase64String($bytes))
    [Console]::Out.Flush()
}

function Wait-CutoverProcess($Process, $Timeout, [string]$Log) {
    # Wait for the program to end (True) or its timeout (False); with a log, its last line is sent
    # as progress every two seconds meanwhile, whenever it changed.
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $last = ''
    while ($true) {
        $wait = -1
        if ($Log -ne '') { $wait = 2000 }
        if ($null -ne $Timeout) {
            $left = [Math]::Ceiling([double]$Timeout * 1000 - $clock.ElapsedMilliseconds)
            if ($left -le 0) { return $false }
            if ($wait -lt 0 -or $left -lt $wait) { $wait = [int]$left }
        }
        if ($Process.WaitForExit($wait)) { return $true }
        if ($Log -ne '') {
            $line = Get-CutoverLogTail $Log
            if ($line -ne '' -and $line -ne $last) {
                $last = $line
                Send-CutoverProgress ([ordered]@{ op = 'process.run'; line = $line })
            }
        }
    }
}

# process.run: run a program (or cmd.exe /c when shell is on) to its end or its timeout.
function Invoke-CutoverProcessRun {
    param($a)
    $argv = @($a.argv)
    if ($argv.Count -eq 0 -or -not ($argv[0] -is [string]) -or $argv[0] -eq '' -or
        @($argv | Where-Object { -not ($_ -is [string]) }).Count -gt 0) {
        Stop-CutoverCall 'invalid' 'argv must be a non-empty list of strings'
    }
    for ($at = 0; $at -lt $argv.Count; $at++) {
        $nul = $argv[$at].IndexOf([char]0)
        if ($nul -ge 0) {
            $why = 'argv[{0}] contains a NUL character (\0) at position {1}: a Windows command line ends at NUL'
            Stop-CutoverCall 'invalid' ($why -f $at, $nul)
        }
    }
    $useShell = Get-CutoverFlag $a.shell $false 'shell'
    $log = ''
    if ($null -ne $a.progress_log) { $log = Resolve-CutoverPath $a.progress_log 'progress_log' }
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
    $encoding = Get-CutoverOemEncoding
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.StandardOutputEncoding = $encoding
    $info.StandardErrorEncoding = $encoding
    $process = New-Object Diagnostics.Process
    $process.StartInfo = $info
    $job = [CutoverNative]::JoinKillOnCloseJob()  # so ending the helper ends what it starts (native.ps1)
    if ($job -ne 0) {
        Stop-CutoverCall 'unsupported' "the helper cannot put what it starts in a job object (Win32 error $job; Windows Server 2012 or later is needed): a program it starts would outlive an interrupted step"
    }
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
    if (-not (Wait-CutoverProcess $process $timeout $log)) {
        [void](Invoke-CutoverProgram "$env:SystemRoot\System32\taskkill.exe" @('/T', '/F', '/PID', [string]$process.Id))
        $process.WaitForExit()
        Stop-CutoverCall 'timeout' "$($argv[0]) ran past its timeout of $timeout s and was stopped"
    }
    $process.WaitForExit()
    $answer = [ordered]@{ rc = [int]$process.ExitCode; stdout = $stdoutTask.Result; stderr = $stderrTask.Result }
    if ($log -ne '') { $answer['progress_last'] = Get-CutoverLogTail $log }
    return $answer
}

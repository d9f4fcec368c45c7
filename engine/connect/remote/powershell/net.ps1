# net.port: whether a TCP connection to address:port opens within the timeout.
function Invoke-CutoverNetPort {
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

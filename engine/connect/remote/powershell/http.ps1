# http.get: one GET with status, headers and body; certificate checks can be turned off per call.
function Invoke-CutoverHttpGet {
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

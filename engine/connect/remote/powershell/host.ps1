# host.facts: the OS, host name and account the helper runs as; a real host, never simulated.
function Invoke-CutoverHostFacts {
    param($a)
    return [ordered]@{
        os        = 'windows'
        hostname  = $env:COMPUTERNAME
        user      = [Security.Principal.WindowsIdentity]::GetCurrent().Name
        simulated = $false
    }
}

# host.facts: the OS, host name and account the helper runs as; a real host, never simulated.
# Also what an operator checks first on a new server (probe): the Windows version and whether it is
# 64-bit (Environment.Is64BitOperatingSystem, never the localised Win32_OperatingSystem.OSArchitecture
# text), the Windows PowerShell version, and the .NET Framework 4.x release (the Release value of
# NDP\v4\Full, learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed).
function Invoke-CutoverHostFacts {
    param($a)
    $os = Get-CimInstance -ClassName 'Win32_OperatingSystem'
    $ndp = 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full'
    return [ordered]@{
        os             = 'windows'
        hostname       = $env:COMPUTERNAME
        user           = [Security.Principal.WindowsIdentity]::GetCurrent().Name
        simulated      = $false
        os_name        = [string]$os.Caption
        os_version     = [string]$os.Version
        architecture   = $(if ([Environment]::Is64BitOperatingSystem) { 'x64' } else { 'x86' })
        powershell     = [string]$PSVersionTable.PSVersion
        dotnet_release = [int][Microsoft.Win32.Registry]::GetValue($ndp, 'Release', 0)
    }
}

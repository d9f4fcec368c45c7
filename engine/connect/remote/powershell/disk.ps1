# disk.free: free and total bytes of the drive or share that holds a path.
function Invoke-CutoverDiskFree {
    param($a)
    $path = Resolve-CutoverPath $a.path 'path'
    $root = [IO.Path]::GetPathRoot($path).TrimEnd('\') + '\'
    try { $space = [CutoverNative]::DiskSpace($root) }
    catch {
        $inner = $_.Exception.InnerException
        if ($inner -is [ComponentModel.Win32Exception] -and @(3, 15, 53, 67) -contains $inner.NativeErrorCode) {
            Stop-CutoverCall 'not_found' "drive or share $root does not exist"
        }
        throw
    }
    return [ordered]@{ free = [long]$space[0]; total = [long]$space[1] }
}

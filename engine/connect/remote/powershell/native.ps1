# The little C# the primitives need, compiled once per session: CRC-32 for archive.verify
# (.NET Framework does not check member CRCs) and free space for any path, UNC shares included
# (disk.free). One Add-Type, because each compile starts csc.exe on the host.

if (-not ('CutoverNative' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.IO;
using System.Runtime.InteropServices;
public static class CutoverNative {
    [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool GetDiskFreeSpaceEx(string dir, out ulong freeToCaller, out ulong total, out ulong totalFree);
    public static ulong[] DiskSpace(string dir) {
        ulong free, total, totalFree;
        if (!GetDiskFreeSpaceEx(dir, out free, out total, out totalFree))
            throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());
        return new ulong[] { free, total };
    }
    static uint[] table;
    public static uint Crc32(Stream stream) {
        if (table == null) {
            uint[] t = new uint[256];
            for (uint i = 0; i < 256; i++) {
                uint c = i;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            table = t;
        }
        uint crc = 0xFFFFFFFFu;
        byte[] buffer = new byte[81920];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
            for (int i = 0; i < n; i++) crc = table[(crc ^ buffer[i]) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
'@
}

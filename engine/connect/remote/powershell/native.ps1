# The little C# the primitives need, compiled once per session: CRC-32 for archive.verify and
# archive.extract (.NET Framework does not check member CRCs), free space for any path, UNC shares included
# (disk.free), and the job object that ends what the helper started when the helper ends
# (process.run). One Add-Type, because each compile starts csc.exe on the host.
#
# The job: WinRM's Signal terminate (a step's timeout, Ctrl-C) ends powershell.exe but not the
# programs it started, so a setup.exe would go on upgrading while the journal says interrupted.
# The helper puts itself in a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, which "causes
# all processes associated with the job to terminate when the last handle to the job is closed"
# (JOBOBJECT_BASIC_LIMIT_INFORMATION, learn.microsoft.com/windows/win32/api/winnt/
# ns-winnt-jobobject_basic_limit_information); the only handle is the helper's, closed by Windows
# when the helper ends, however it ends. Child processes join the job as they start. BREAKAWAY_OK
# lets a program that asks for it (CREATE_BREAKAWAY_FROM_JOB) leave the job rather than fail.
# Nested jobs need Windows 8 / Server 2012; where the helper cannot join, process.run says so.

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
    [StructLayout(LayoutKind.Sequential)]
    struct BasicLimits {
        public long PerProcessUserTimeLimit, PerJobUserTimeLimit;
        public uint LimitFlags;
        public UIntPtr MinimumWorkingSetSize, MaximumWorkingSetSize;
        public uint ActiveProcessLimit;
        public UIntPtr Affinity;
        public uint PriorityClass, SchedulingClass;
    }
    [StructLayout(LayoutKind.Sequential)]
    struct IoCounters { public ulong R, W, O, RB, WB, OB; }
    [StructLayout(LayoutKind.Sequential)]
    struct ExtendedLimits {
        public BasicLimits Basic;
        public IoCounters Io;
        public UIntPtr ProcessMemoryLimit, JobMemoryLimit, PeakProcessMemoryUsed, PeakJobMemoryUsed;
    }
    [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    static extern IntPtr CreateJobObject(IntPtr attributes, string name);
    [DllImport("kernel32.dll", SetLastError = true)]
    static extern bool SetInformationJobObject(IntPtr job, int infoClass, ref ExtendedLimits info, uint length);
    [DllImport("kernel32.dll", SetLastError = true)]
    static extern bool AssignProcessToJobObject(IntPtr job, IntPtr process);
    [DllImport("kernel32.dll")]
    static extern IntPtr GetCurrentProcess();
    const uint KillOnJobClose = 0x2000, BreakawayOk = 0x800;
    static IntPtr helperJob = IntPtr.Zero;
    public static int JoinKillOnCloseJob() {
        // 0 when the helper is in its job (once per session), else the Win32 error.
        if (helperJob != IntPtr.Zero) return 0;
        IntPtr job = CreateJobObject(IntPtr.Zero, null);
        if (job == IntPtr.Zero) return Marshal.GetLastWin32Error();
        ExtendedLimits limits = new ExtendedLimits();
        limits.Basic.LimitFlags = KillOnJobClose | BreakawayOk;
        if (!SetInformationJobObject(job, 9, ref limits, (uint)Marshal.SizeOf(typeof(ExtendedLimits))))
            return Marshal.GetLastWin32Error();
        if (!AssignProcessToJobObject(job, GetCurrentProcess())) return Marshal.GetLastWin32Error();
        helperJob = job;
        return 0;
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
    public static uint CopyCrc32(Stream source, Stream target, long declared) {
        // archive.extract: copy a member in pieces, its CRC-32 as it goes; never more than the size
        // the member declared (an inflater fed a lying header stops here, not at the disk's end).
        Crc32(Stream.Null);
        uint crc = 0xFFFFFFFFu;
        byte[] buffer = new byte[81920];
        long copied = 0;
        int n;
        while ((n = source.Read(buffer, 0, buffer.Length)) > 0) {
            copied += n;
            if (copied > declared) throw new InvalidDataException("more data than the " + declared + " bytes declared");
            for (int i = 0; i < n; i++) crc = table[(crc ^ buffer[i]) & 0xFF] ^ (crc >> 8);
            target.Write(buffer, 0, n);
        }
        if (copied != declared) throw new InvalidDataException(copied + " bytes instead of the " + declared + " declared");
        return crc ^ 0xFFFFFFFFu;
    }
}
'@
}

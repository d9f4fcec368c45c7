"""Windows modules: services, IIS, registry export/import, regsvr32, reboot, zip archives, files, PowerShell, disk space."""

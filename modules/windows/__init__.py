"""Windows modules: services, IIS, registry export/import, regsvr32, reboot, zip archives, files, PowerShell, disk space."""

from engine.api.plugins import Plugin

PLUGIN = Plugin("windows", modules=(__name__,))

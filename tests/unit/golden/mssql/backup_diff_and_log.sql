-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
BACKUP DATABASE [CRM] TO DISK = ? WITH DIFFERENTIAL, CHECKSUM, INIT, COMPRESSION, STATS = 10
  -- params: ["D:\\Backups\\CRM-diff.bak"]
  -- autocommit: True
  -- result sets read: 3 of 3
SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
BACKUP LOG [CRM] TO DISK = ? WITH CHECKSUM, INIT, STATS = 10
  -- params: ["D:\\Backups\\CRM-log.trn"]
  -- autocommit: True
  -- result sets read: 3 of 3
-- close

-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
BACKUP DATABASE [CRM] TO DISK = ? WITH CHECKSUM, INIT, STATS = 10
  -- params: ["<backups>/CRM-full.bak"]
  -- autocommit: True
  -- result sets read: 3 of 3
-- close
-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
RESTORE VERIFYONLY FROM DISK = ? WITH CHECKSUM
  -- params: ["<backups>/CRM-full.bak"]
  -- autocommit: True
RESTORE FILELISTONLY FROM DISK = ?
  -- params: ["<backups>/CRM-full.bak"]
  -- autocommit: True
  -- result sets read: 1 of 1
RESTORE DATABASE [CRM_verify_XXXXXXXX] FROM DISK = ? WITH RECOVERY, MOVE ? TO ?, MOVE ? TO ?
  -- params: ["<backups>/CRM-full.bak", "CRM", "C:\\Data\\CRM_verify_XXXXXXXX_0.mdf", "CRM_log", "C:\\Data\\CRM_verify_XXXXXXXX_1.ldf"]
  -- autocommit: True
SELECT DB_ID(?)
  -- params: ["CRM_verify_XXXXXXXX"]
  -- autocommit: True
  -- result sets read: 1 of 1
DROP DATABASE [CRM_verify_XXXXXXXX]
  -- params: []
  -- autocommit: True
-- close

-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT DB_ID(?)
  -- params: ["CRM]; DROP DATABASE master; --"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM]]; DROP DATABASE master; --] SET SINGLE_USER WITH ROLLBACK IMMEDIATE
  -- params: []
  -- autocommit: True
RESTORE DATABASE [CRM]]; DROP DATABASE master; --] FROM DISK = ? WITH REPLACE, STATS = 10
  -- params: ["D:\\Backups\\CRM.bak"]
  -- autocommit: True
SELECT DB_ID(?)
  -- params: ["CRM]; DROP DATABASE master; --"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM]]; DROP DATABASE master; --] SET MULTI_USER
  -- params: []
  -- autocommit: True
-- close
-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
BACKUP DATABASE [CRM]]; DROP DATABASE master; --] TO DISK = ? WITH CHECKSUM, INIT, STATS = 10
  -- params: ["D:\\'; DROP TABLE x; --.bak"]
  -- autocommit: True
-- close

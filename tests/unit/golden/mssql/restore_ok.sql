-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT DB_ID(?)
  -- params: ["CRM"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM] SET SINGLE_USER WITH ROLLBACK IMMEDIATE
  -- params: []
  -- autocommit: True
RESTORE DATABASE [CRM] FROM DISK = ? WITH REPLACE, MOVE ? TO ?, MOVE ? TO ?, STATS = 10
  -- params: ["D:\\Backups\\CRM.bak", "CRM", "E:\\Data\\CRM.mdf", "CRM_log", "E:\\Logs\\CRM_log.ldf"]
  -- autocommit: True
  -- result sets read: 3 of 3
SELECT DB_ID(?)
  -- params: ["CRM"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM] SET MULTI_USER
  -- params: []
  -- autocommit: True
-- close

-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT DB_ID(?)
  -- params: ["CRM"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM] SET SINGLE_USER WITH ROLLBACK IMMEDIATE
  -- params: []
  -- autocommit: True
RESTORE DATABASE [CRM] FROM DISK = ? WITH REPLACE, STATS = 10
  -- params: ["D:\\Backups\\CRM.bak"]
  -- autocommit: True
SELECT DB_ID(?)
  -- params: ["CRM"]
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER DATABASE [CRM] SET MULTI_USER
  -- params: []
  -- autocommit: True
-- close

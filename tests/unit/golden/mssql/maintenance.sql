-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=CRM;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
DBCC CHECKDB ([CRM]) WITH NO_INFOMSGS, ALL_ERRORMSGS
  -- params: []
  -- autocommit: True
SELECT s.name, t.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id WHERE t.is_ms_shipped = 0
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER INDEX ALL ON [dbo].[Company] REORGANIZE
  -- params: []
  -- autocommit: True
ALTER INDEX ALL ON [dbo].[Person] REORGANIZE
  -- params: []
  -- autocommit: True
SELECT s.name, t.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id WHERE t.is_ms_shipped = 0
  -- params: []
  -- autocommit: True
  -- result sets read: 1 of 1
ALTER INDEX ALL ON [dbo].[Company] REBUILD
  -- params: []
  -- autocommit: True
ALTER INDEX ALL ON [dbo].[Person] REBUILD
  -- params: []
  -- autocommit: True
EXEC sp_updatestats
  -- params: []
  -- autocommit: True
DBCC SHRINKDATABASE ([CRM])
  -- params: []
  -- autocommit: True
EXEC msdb.dbo.sp_delete_backuphistory @oldest_date = ?
  -- params: ["2024-04-01 00:00:00"]
  -- autocommit: True
-- close

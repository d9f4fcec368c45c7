-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT COALESCE(s.host_name, N'') AS host_name, COUNT(*) AS sessions FROM sys.dm_exec_sessions AS s WHERE s.database_id = DB_ID(?) AND s.session_id <> @@SPID AND s.is_user_process = 1 GROUP BY s.host_name
  -- params: ["CRM"]
  -- autocommit: True
  -- result sets read: 1 of 1
-- close
-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
SELECT TOP (1) b.backup_finish_date AS finished, m.physical_device_name AS location, b.type AS type, b.has_backup_checksums AS has_checksums, b.is_damaged AS is_damaged, b.backup_size AS size, DATEDIFF(second, b.backup_finish_date, GETDATE()) AS age_seconds FROM msdb.dbo.backupset AS b JOIN msdb.dbo.backupmediafamily AS m ON m.media_set_id = b.media_set_id WHERE b.database_name = ? AND b.type = ? ORDER BY b.backup_finish_date DESC
  -- params: ["CRM", "D"]
  -- autocommit: True
  -- result sets read: 1 of 1
-- close

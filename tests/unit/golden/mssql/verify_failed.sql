-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=master;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=True)
RESTORE VERIFYONLY FROM DISK = ? WITH CHECKSUM
  -- params: ["D:\\Backups\\CRM.bak"]
  -- autocommit: True
-- close

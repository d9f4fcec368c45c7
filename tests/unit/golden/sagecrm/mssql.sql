-- read parameters
SELECT [Parm_Name], [Parm_Value] FROM [custom_sysparams] WHERE [Parm_Name] IN (?, ?, ?)

-- update a parameter
UPDATE [custom_sysparams] SET [Parm_Value] = ? WHERE [Parm_Name] = ?

-- insert a parameter
INSERT INTO [custom_sysparams] ([Parm_Name], [Parm_Value]) VALUES (?, ?)

-- delete a parameter
DELETE FROM [custom_sysparams] WHERE [Parm_Name] = ?

-- customised views: the metadata's scripts
SELECT [CuVi_ViewName], [CuVi_ViewScript] FROM [Custom_Views] WHERE [CuVi_ViewScript] IS NOT NULL

-- Solo references in a metadata column
SELECT [ColP_CreateScript] FROM [Custom_Edits] WHERE [ColP_CreateScript] LIKE ? ESCAPE '!' OR [ColP_CreateScript] LIKE ? ESCAPE '!' OR [ColP_CreateScript] LIKE ? ESCAPE '!' OR [ColP_CreateScript] LIKE ? ESCAPE '!' OR [ColP_CreateScript] LIKE ? ESCAPE '!' OR [ColP_CreateScript] LIKE ? ESCAPE '!'
  -- params: ["%SoloProfile%", "%SoloProfileOption%", "%Rep!_Ranges%", "%Rep!_Deletes%", "%Rep!_Conflicts%", "%ClientRangesRequired%"]

-- Solo references in code objects
SELECT o.name, o.type_desc, m.definition FROM sys.sql_modules AS m JOIN sys.objects AS o ON o.object_id = m.object_id WHERE o.is_ms_shipped = 0 AND (m.definition LIKE ? ESCAPE '!' OR m.definition LIKE ? ESCAPE '!' OR m.definition LIKE ? ESCAPE '!' OR m.definition LIKE ? ESCAPE '!' OR m.definition LIKE ? ESCAPE '!' OR m.definition LIKE ? ESCAPE '!') ORDER BY o.name
  -- params: ["%SoloProfile%", "%SoloProfileOption%", "%Rep!_Ranges%", "%Rep!_Deletes%", "%Rep!_Conflicts%", "%ClientRangesRequired%"]

-- database size
SELECT CAST(SUM(CAST(size AS BIGINT)) * 8192 AS BIGINT) FROM sys.database_files

-- a hostile table name stays one quoted name
SELECT [c] FROM [x]]; DROP TABLE Company; --] WHERE [c] LIKE ? ESCAPE '!'
  -- params: ["%Rep!_Ranges%"]

-- lock, a new multi-server row, a row removed (one transaction)
SELECT [Parm_Name], [Parm_Value] FROM [custom_sysparams] WHERE [Parm_Name] IN (?, ?, ?)
  -- params: ["Version", "SysLockedByUsrID", "MultiServerNames"]
SELECT [Parm_Name], [Parm_Value] FROM [custom_sysparams] WHERE [Parm_Name] IN (?)
  -- params: ["SysLockedByUsrID"]
UPDATE [custom_sysparams] SET [Parm_Value] = ? WHERE [Parm_Name] = ?
  -- params: ["1", "SysLockedByUsrID"]
SELECT [Parm_Name], [Parm_Value] FROM [custom_sysparams] WHERE [Parm_Name] IN (?)
  -- params: ["MultiServerNames"]
INSERT INTO [custom_sysparams] ([Parm_Name], [Parm_Value]) VALUES (?, ?)
  -- params: ["MultiServerNames", "crm1;crm2"]
DELETE FROM [custom_sysparams] WHERE [Parm_Name] = ?
  -- params: ["Version"]
-- commit

-- connect: DRIVER=FreeTDS;SERVER=sql1.crm.local;PORT=1433;DATABASE=CRM;UID=sa;PWD={<masked>};TDS_Version=7.4 (autocommit=False)
SELECT s.name AS schema_name, t.name AS table_name, i.name AS name, i.type_desc AS type_desc, i.is_unique AS is_unique, i.is_primary_key AS is_primary_key, i.is_unique_constraint AS is_unique_constraint, i.filter_definition AS filter_definition, i.index_id AS index_id, t.object_id AS object_id FROM sys.indexes AS i JOIN sys.tables AS t ON t.object_id = i.object_id JOIN sys.schemas AS s ON s.schema_id = t.schema_id WHERE t.is_ms_shipped = 0 AND i.name IS NOT NULL AND i.name LIKE ? ESCAPE '!' ORDER BY s.name, t.name, i.name
  -- params: ["!_dta!_index%"]
  -- autocommit: False
  -- result sets read: 1 of 1
SELECT c.name AS name, ic.is_descending_key AS descending, ic.is_included_column AS included FROM sys.index_columns AS ic JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE ic.object_id = ? AND ic.index_id = ? ORDER BY ic.key_ordinal, ic.index_column_id
  -- params: [101, 5]
  -- autocommit: False
  -- result sets read: 1 of 1
SELECT sc.name AS schema_name, t.name AS table_name, st.name AS name, st.auto_created AS auto_created, st.user_created AS user_created, st.filter_definition AS filter_definition, st.stats_id AS stats_id, t.object_id AS object_id FROM sys.stats AS st JOIN sys.tables AS t ON t.object_id = st.object_id JOIN sys.schemas AS sc ON sc.schema_id = t.schema_id WHERE t.is_ms_shipped = 0 AND st.name LIKE ? ESCAPE '!' AND NOT EXISTS (SELECT 1 FROM sys.indexes AS i WHERE i.object_id = st.object_id AND i.name = st.name) ORDER BY sc.name, t.name, st.name
  -- params: ["!_dta!_stat!_%"]
  -- autocommit: False
  -- result sets read: 1 of 1
SELECT c.name AS name FROM sys.stats_columns AS sc JOIN sys.columns AS c ON c.object_id = sc.object_id AND c.column_id = sc.column_id WHERE sc.object_id = ? AND sc.stats_id = ? ORDER BY sc.stats_column_id
  -- params: [101, 3]
  -- autocommit: False
  -- result sets read: 1 of 1
-- close

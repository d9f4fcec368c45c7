-- The demo's 1CRM-shaped database at 8.6.3: the version row where 1CRM keeps it (config,
-- category 'info', name 'sugar_version') and tables with `date_modified` columns, which the
-- data-loss estimate counts. Every row was last modified long ago.
CREATE TABLE config (category VARCHAR(32), name VARCHAR(64), value VARCHAR(255), PRIMARY KEY (category, name));
INSERT INTO config VALUES ('info', 'sugar_version', '8.6.3'), ('system', 'name', 'Kunde GmbH');
CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(100), deleted TINYINT DEFAULT 0, date_modified DATETIME);
INSERT INTO accounts VALUES (1, 'Müller AG', 0, '2024-03-01 10:00:00'), (2, 'Schmidt & Söhne', 0, '2024-03-01 10:00:00'),
  (3, 'Weber KG', 0, '2024-03-01 10:00:00'), (4, 'Fischer GmbH', 0, '2024-03-01 10:00:00');
CREATE TABLE contacts (id INT PRIMARY KEY, account_id INT, first_name VARCHAR(50), last_name VARCHAR(50), date_modified DATETIME);
INSERT INTO contacts VALUES (1, 1, 'Anna', 'Keller', '2024-03-01 10:00:00'), (2, 2, 'Jonas', 'Braun', '2024-03-01 10:00:00');
CREATE TABLE notes (id INT PRIMARY KEY, name VARCHAR(100), filename VARCHAR(100), date_modified DATETIME);
INSERT INTO notes VALUES (1, 'Vertrag', 'contract-0001.pdf', '2024-03-01 10:00:00');

#!/bin/sh
# The update's database step (what 1CRM's own upgrade does to the schema, as a stand-in): run by
# cutover in the install folder after the files are extracted (`onecrm.update.command`). It reads
# the site's database settings from include/config/local_config.php, as 1CRM does.
set -eu
conf=include/config/local_config.php
setting() { sed -n "s/.*'$1' => '\([^']*\)'.*/\1/p" "$conf"; }
MYSQL_PWD=$(setting db_password)
export MYSQL_PWD
mariadb --socket="$(setting db_socket)" --user="$(setting db_user_name)" "$(setting db_name)" <<'SQL'
ALTER TABLE accounts ADD COLUMN rating INT NULL;
CREATE TABLE invoices (id INT PRIMARY KEY, account_id INT, amount DECIMAL(12,2), date_modified DATETIME);
UPDATE config SET value = '8.6.4' WHERE category = 'info' AND name = 'sugar_version';
UPDATE accounts SET rating = 5, date_modified = UTC_TIMESTAMP() WHERE id <= 2;
SQL

#!/bin/bash
# W3 by hand: what a careful operator runs on the 1CRM server, one step after the other.
# Backups first (database dump through gzip, the install folder as tar.gz), each read back in
# full (gzip's CRC, the dump's completion line, tar's listing) and checksummed; then the update
# (unzip, copy over the install, the package's database script) and its checks; then the
# rollback (checksums checked again, the database dropped and reloaded, the folder replaced from
# the archive) and its checks. Any failure stops the script (set -e, pipefail).
#
#   hand.sh ROOT BACKUPS SOCKET DATABASE PACKAGE URL OLD NEW
set -euo pipefail
root=$1 backups=$2 socket=$3 db=$4 package=$5 url=$6 old=$7 new=$8
sql() { mariadb --socket="$socket" -u root "$@"; }
version_is() {  # files, database and web page all name version $1
    grep -q "\$sugar_version = '$1'" "$root/sugar_version.php"
    [ "$(sql -N -B "$db" -e "SELECT value FROM config WHERE category = 'info' AND name = 'sugar_version'")" = "$1" ]
}

mkdir -p "$backups"
cd "$backups"
# 1. backups, verified
mariadb-dump --socket="$socket" -u root --single-transaction --routines --triggers --events --hex-blob \
    -- "$db" | gzip > db.sql.gz
gzip -dc db.sql.gz | tail -n 1 | grep -q '^-- Dump completed'
tar czf files.tar.gz -C "$root" .
tar tzf files.tar.gz > /dev/null
sha256sum db.sql.gz files.tar.gz > SHA256SUMS

# 2. the update
rm -rf staging && mkdir staging
unzip -q "$package" -d staging
cp -a "staging/1crm-$new/." "$root/"
rm -rf staging
(cd "$root" && sh scripts/upgrade_db.sh)
version_is "$new"
curl -fsS "$url" | grep -q "1CRM $new"

# 3. the rollback
sha256sum --quiet -c SHA256SUMS
sql -e "DROP DATABASE \`$db\`; CREATE DATABASE \`$db\`"
gzip -dc db.sql.gz | sql "$db"
rm -rf "$root" && mkdir "$root"
tar xzf files.tar.gz -C "$root"
version_is "$old"
curl -fsS "$url" | grep -q "1CRM $old"
echo "W3 hand: updated to $new and rolled back to $old"

#!/bin/sh
# Register the warehouse for the login user, with its password in a pgpass file (0600, owned by
# pgAdmin's uid 5050), then start pgAdmin as the image does.
set -eu
storage="/var/lib/pgadmin/storage/$(printf '%s' "$PGADMIN_DEFAULT_EMAIL" | sed 's/@/_/g')"
mkdir -p "$storage"
# libpq reads a backslash-escaped \ or : inside a pgpass field as the character itself.
pgpass_field() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/:/\\:/g'; }
printf '%s:%s:*:%s:%s\n' "$(pgpass_field "$WAREHOUSE_HOST")" "$WAREHOUSE_PORT" "$(pgpass_field "$WAREHOUSE_USER")" \
    "$(pgpass_field "$WAREHOUSE_PASSWORD")" > "$storage/pgpass"
chmod 600 "$storage/pgpass"
cat > /var/lib/pgadmin/servers.json <<JSON
{"Servers": {"1": {"Name": "warehouse", "Group": "Servers", "Host": "$WAREHOUSE_HOST",
  "Port": $WAREHOUSE_PORT, "MaintenanceDB": "$WAREHOUSE_DB", "Username": "$WAREHOUSE_USER",
  "SSLMode": "prefer", "PassFile": "/pgpass"}}}
JSON
export PGADMIN_SERVER_JSON_FILE=/var/lib/pgadmin/servers.json
exec /entrypoint.sh

-- "Make other connections reload the schema": setting schema_version by hand can leave a
-- connection using a stale schema and corrupt the file.
-- refused: 1
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;
PRAGMA main.schema_version = 1000;

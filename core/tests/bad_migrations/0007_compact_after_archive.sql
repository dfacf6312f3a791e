-- "Archive to a side file and compact": statements the check cannot follow (an attached
-- database, a transaction ended inside the migration, VACUUM) are refused, not passed.
-- refused: 4
ATTACH DATABASE 'archive.db' AS archive;
COMMIT;
VACUUM;
CREATE TABLE IF NOT EXISTS archive.sales AS SELECT * FROM main.sales;

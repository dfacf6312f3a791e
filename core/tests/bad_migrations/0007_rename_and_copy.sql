/* "Rebuild sales with a new column order": rename, copy, drop. The copy is fine; the
   rename and the drop of the old table are not. */
-- refused: 2
ALTER TABLE "sales" RENAME TO sales_old;
CREATE TABLE sales_new (id INTEGER PRIMARY KEY, record TEXT NOT NULL) STRICT;
INSERT INTO sales_new SELECT id, record FROM sales_old;
DROP TABLE IF EXISTS main.sales_old;
DROP TABLE IF EXISTS main.`SALES`;

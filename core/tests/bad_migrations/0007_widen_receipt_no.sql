-- "Change a column type without copying the table": editing the schema table directly.
-- Both pragmas and the write are refused.
-- refused: 3
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, 'receipt_no      TEXT NOT NULL', 'receipt_no ANY')
    WHERE type = 'table' AND name = 'sales';
PRAGMA writable_schema = OFF;

-- "Move every device to the new key scheme": a rekey in a migration re-encrypts the file
-- with a key the vault does not hold; the next open cannot read a single sale.
-- refused: 1
PRAGMA rekey = 'tillkit-build-key';

-- "Copy the queue aside while it is re-indexed": written in the temp schema by name, the
-- copy shadows the queue on this connection (and vanishes with it).
-- refused: 2
CREATE TABLE temp.outbox AS SELECT * FROM main.outbox;
INSERT INTO "temp"."outbox" SELECT * FROM main.outbox WHERE state = 'attention';
CREATE INDEX outbox_state ON outbox (state);

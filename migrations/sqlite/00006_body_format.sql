-- Entry bodies stored compressed (storage/bodycodec): body_format says how
-- a row's body is encoded, NULL for a body stored as it is. Same column and
-- meaning as the PostgreSQL migration of this version; rows written before
-- it are NULL, and none is rewritten.

-- +goose Up
ALTER TABLE entries ADD COLUMN body_format INTEGER CHECK (body_format > 0);

-- +goose Down
-- Without the column a compressed body would be read as raw bytes: refuse
-- to go down while one is stored (the temporary table's CHECK fails).
CREATE TEMP TABLE body_format_down (compressed INTEGER CHECK (compressed = 0));
INSERT INTO body_format_down SELECT count(*) FROM entries WHERE body_format IS NOT NULL;
DROP TABLE body_format_down;
ALTER TABLE entries DROP COLUMN body_format;

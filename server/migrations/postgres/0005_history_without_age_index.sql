-- Retention now walks the primary key series by series, so the age index, which cost
-- about a sixth of the history's bytes on disk, goes.
DROP INDEX IF EXISTS history_blocks_by_end;

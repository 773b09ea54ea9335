-- Keyed registers (registers.Keyed): every register a policy rule reads by a
-- key, in one table, so a new register needs no table of its own. An entry
-- belongs to the record that put it: a new version of the record replaces
-- all of its entries, in the transaction that stores it. Values are kept as
-- the gateway wrote them (json, not jsonb), so both stores give the policy
-- the same bytes.
CREATE TABLE ura_reg_keyed (
	register  text NOT NULL,
	key       text NOT NULL,
	record_id text NOT NULL,
	version   integer NOT NULL,
	value     json NOT NULL,
	PRIMARY KEY (register, key, record_id)
);
CREATE INDEX ura_reg_keyed_record ON ura_reg_keyed (record_id);

-- The version of each register's derivation its entries were written by:
-- a gateway whose derivation is newer rebuilds that register when it opens
-- the store (syncKeyed).
CREATE TABLE ura_reg_keyed_versions (
	register text PRIMARY KEY,
	version  integer NOT NULL
);

-- The registers the policy reads, as indexes written in the transaction that
-- stores each record (registers.Of derives them; postgres/registers.go
-- writes and reads them). Rows are keyed by the record they come from, so a
-- new version of a record replaces what its older version put here. The
-- gateway fills them from ura_records once, in the transaction that applies
-- this migration (backfillRegisters).

-- A licence's status, dates and quantities. An export declaration locks its
-- licence's row (FOR UPDATE) while it checks the balance.
CREATE TABLE ura_reg_licences (
	id               text PRIMARY KEY,
	version          integer NOT NULL,
	originator       text NOT NULL,
	type             text NOT NULL,
	status           text NOT NULL,
	valid_from       text NOT NULL,
	valid_until      text NOT NULL,
	destination      text NOT NULL,
	-- NULL when the licence names no holder.
	holder_entity_id text,
	holder_name      text,
	holder_name_norm text,
	-- ML category → licensed quantity.
	items            jsonb NOT NULL
);

-- Entities by record; ord says which record last named an entity id.
CREATE SEQUENCE ura_reg_entity_ord AS bigint;

CREATE TABLE ura_reg_entities (
	record_id text PRIMARY KEY,
	version   integer NOT NULL,
	entity_id text NOT NULL,
	name      text NOT NULL,
	name_norm text NOT NULL,
	status    text NOT NULL,
	ord       bigint NOT NULL
);
CREATE INDEX ura_reg_entities_entity ON ura_reg_entities (entity_id, ord);

-- Excluded entities, found by entity id and by normalised name.
CREATE TABLE ura_reg_exclusions (
	record_id      text PRIMARY KEY,
	version        integer NOT NULL,
	entity_id      text NOT NULL,
	name_norm      text NOT NULL,
	excluded_from  text NOT NULL,
	excluded_until text NOT NULL
);
CREATE INDEX ura_reg_exclusions_entity ON ura_reg_exclusions (entity_id) WHERE entity_id <> '';
CREATE INDEX ura_reg_exclusions_name ON ura_reg_exclusions (name_norm) WHERE name_norm <> '';

-- What each export declaration counts now, and the sum per licence and ML
-- category.
CREATE TABLE ura_reg_declarations (
	record_id  text PRIMARY KEY,
	version    integer NOT NULL,
	licence_id text NOT NULL,
	category   text NOT NULL,
	quantity   bigint NOT NULL
);

CREATE TABLE ura_reg_exported (
	licence_id text NOT NULL,
	category   text NOT NULL,
	quantity   bigint NOT NULL,
	PRIMARY KEY (licence_id, category)
);

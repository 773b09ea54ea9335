-- The register: the latest version of every record, and every version ever
-- stored (records are kept at least ten years: UN Firearms Protocol art. 7,
-- ATT art. 12).

-- The order records were stored in, and the cursor of a pull. A record takes a
-- new number with each version, so a pull resuming from its cursor sees the
-- update.
CREATE SEQUENCE ura_record_seq AS bigint;

CREATE TABLE ura_records (
	id                text PRIMARY KEY,
	kind              text NOT NULL,
	version           integer NOT NULL CHECK (version > 0),
	seq               bigint NOT NULL UNIQUE,
	originator        text NOT NULL,
	created           timestamptz,
	licence_id        text,
	mark_country      text,
	mark_manufacturer text,
	mark_serial       text,
	-- json, not jsonb: the record is kept exactly as it was pushed.
	raw               json NOT NULL,
	stored_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ura_records_kind ON ura_records (kind, seq);
CREATE INDEX ura_records_originator ON ura_records (originator, seq);
CREATE INDEX ura_records_licence ON ura_records (licence_id, seq) WHERE licence_id IS NOT NULL;
CREATE INDEX ura_records_marking ON ura_records (mark_country, mark_manufacturer, mark_serial, seq)
	WHERE mark_serial IS NOT NULL;

CREATE TABLE ura_record_versions (
	id        text NOT NULL,
	version   integer NOT NULL CHECK (version > 0),
	kind      text NOT NULL,
	raw       json NOT NULL,
	stored_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id, version)
);

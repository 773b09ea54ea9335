-- Customs usage batches (ATT art. 8(1)): what customs returns as used of
-- each licence line, each batch under its own idempotency key
-- (postgres/usage.go). A batch's row, its applied lines and the sums are
-- written in one transaction that holds the index rows of the licences it
-- uses locked (FOR UPDATE on ura_reg_licences, as an export declaration
-- does), so a licence's remaining quantity is always its quantity minus
-- the usage stored, across replicas.

-- One row per batch: the body's digest (the same key with another body is
-- refused) and the answer it was given (a replay gets it again).
CREATE TABLE ura_usage_batches (
	member     text NOT NULL,
	idem_key   text NOT NULL,
	digest     text NOT NULL,
	answer     jsonb NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (member, idem_key)
);

-- The lines applied, as customs sent them.
CREATE TABLE ura_usage_lines (
	member      text NOT NULL,
	idem_key    text NOT NULL,
	line        integer NOT NULL,
	licence_id  text NOT NULL,
	category    text NOT NULL,
	quantity    bigint NOT NULL,
	declaration text NOT NULL,
	used_on     text NOT NULL,
	PRIMARY KEY (member, idem_key, line),
	FOREIGN KEY (member, idem_key) REFERENCES ura_usage_batches (member, idem_key)
);

CREATE INDEX ura_usage_lines_licence ON ura_usage_lines (licence_id);

-- What is used per licence and ML category: the sum of the lines above.
CREATE TABLE ura_usage_used (
	licence_id text NOT NULL,
	category   text NOT NULL,
	quantity   bigint NOT NULL,
	PRIMARY KEY (licence_id, category)
);

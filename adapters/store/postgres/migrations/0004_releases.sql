-- Two-person release authority (gateway/authority): one row per release
-- request, shared by every replica on this store. doc is the request as the
-- gateway encodes it (authority.Request); the columns beside it are what
-- deliveries look a request up by.
CREATE TABLE ura_releases (
    id        text PRIMARY KEY,
    record_id text NOT NULL,
    version   integer NOT NULL,
    recipient text NOT NULL,
    doc       jsonb NOT NULL
);

CREATE INDEX ura_releases_target ON ura_releases (record_id, version, recipient);

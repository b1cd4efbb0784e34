-- Users are keyed by (issuer, subject), never by e-mail (ASVS 6.8.1).
CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	email      TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (issuer, subject)
);

-- Sessions store only the SHA-256 of the cookie value, so a copy of the
-- database does not hand out live sessions.
CREATE TABLE sessions (
	id_hash    TEXT PRIMARY KEY,
	kind       TEXT NOT NULL CHECK (kind IN ('user', 'guest')),
	user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
	email      TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	roles      TEXT NOT NULL DEFAULT '',
	mfa        INTEGER NOT NULL DEFAULT 0,
	demo       INTEGER NOT NULL DEFAULT 0,
	meeting_id TEXT NOT NULL DEFAULT '',
	invitee_id TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_invitee ON sessions (meeting_id, invitee_id) WHERE kind = 'guest';

-- In-flight OIDC authorization requests: state → nonce and PKCE verifier.
CREATE TABLE oidc_flows (
	state      TEXT PRIMARY KEY,
	nonce      TEXT NOT NULL,
	verifier   TEXT NOT NULL,
	return_to  TEXT NOT NULL DEFAULT '/',
	expires_at INTEGER NOT NULL
);

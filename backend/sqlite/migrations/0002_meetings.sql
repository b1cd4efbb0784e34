-- Provisioned meetings. event_key makes provisioning idempotent per calendar
-- event (provider + iCalUID, or provider + event id). The body of the
-- calendar event is never stored here.
CREATE TABLE meetings (
	id               TEXT PRIMARY KEY,
	event_key        TEXT NOT NULL UNIQUE,
	provider         TEXT NOT NULL,
	event_id         TEXT NOT NULL DEFAULT '',
	ical_uid         TEXT NOT NULL DEFAULT '',
	title            TEXT NOT NULL DEFAULT '',
	profile          TEXT NOT NULL CHECK (profile IN ('open', 'internal', 'protected')),
	suggested        TEXT NOT NULL CHECK (suggested IN ('open', 'internal', 'protected')),
	override_reason  TEXT NOT NULL DEFAULT '',
	settings         TEXT NOT NULL,
	categories       TEXT NOT NULL DEFAULT '[]',
	external_domains TEXT NOT NULL DEFAULT '[]',
	host_user_id     TEXT NOT NULL,
	host_email       TEXT NOT NULL,
	start_at         INTEGER NOT NULL,
	end_at           INTEGER NOT NULL,
	recurrence       TEXT NOT NULL DEFAULT '',
	rules_version    INTEGER NOT NULL DEFAULT 0,
	locked           INTEGER NOT NULL DEFAULT 0,
	incident         INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
CREATE INDEX meetings_host ON meetings (host_user_id, start_at);

CREATE TABLE meeting_guests (
	meeting_id     TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
	id             TEXT NOT NULL,
	email          TEXT NOT NULL,
	name           TEXT NOT NULL DEFAULT '',
	internal       INTEGER NOT NULL DEFAULT 0,
	status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
	delivery_id    TEXT NOT NULL DEFAULT '',
	code_issued_at INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (meeting_id, id),
	UNIQUE (meeting_id, email)
);

-- Recurring meetings: occurrences, the codes issued per (guest, occurrence),
-- and the count of invitee-list changes that rotates the join link.
ALTER TABLE meetings ADD COLUMN invitee_changes INTEGER NOT NULL DEFAULT 0;

-- One row per provisioned occurrence. key is provider-neutral and survives a
-- moved occurrence (gcal.OccurrenceKey). link_epoch is the join link's epoch
-- when the occurrence's codes were last mailed: that link keeps working
-- during the occurrence even if the interval rotates the link meanwhile.
CREATE TABLE meeting_occurrences (
	meeting_id TEXT    NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
	key        TEXT    NOT NULL,
	start_at   INTEGER NOT NULL,
	end_at     INTEGER NOT NULL,
	link_epoch INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (meeting_id, key)
);
CREATE INDEX meeting_occurrences_end ON meeting_occurrences (meeting_id, end_at);

-- Which guest got a code for which occurrence, so a repeat provision of the
-- same occurrence issues nothing. The code itself lives in guest_codes.
CREATE TABLE meeting_occurrence_codes (
	meeting_id     TEXT    NOT NULL,
	occurrence_key TEXT    NOT NULL,
	invitee_id     TEXT    NOT NULL,
	delivery_id    TEXT    NOT NULL DEFAULT '',
	link_epoch     INTEGER NOT NULL DEFAULT 0,
	issued_at      INTEGER NOT NULL,
	PRIMARY KEY (meeting_id, occurrence_key, invitee_id),
	FOREIGN KEY (meeting_id, occurrence_key) REFERENCES meeting_occurrences(meeting_id, key) ON DELETE CASCADE
);

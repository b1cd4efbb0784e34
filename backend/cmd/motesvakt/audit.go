package main

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/mail"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// auditHooks writes the HTTP edge's security events to the audit log.
type auditHooks struct{}

func (auditHooks) SignedIn(ctx context.Context, tx *sqlite.Tx, ip string, s *backend.Session) error {
	_, err := audit.Append(ctx, tx.Tx, audit.Entry{Time: tx.Now, Actor: audit.Actor("user:" + string(s.UserID)), ActorIP: ip, Action: audit.SignIn,
		Outcome: audit.Success, Details: map[string]string{"mfa": strconv.FormatBool(s.MFA), "demo": strconv.FormatBool(s.Demo), "roles": rolesString(s.Roles)}})
	return err
}

// SignInFailed records a refused OIDC sign-in (bad token, nonce, state…)
// with the reason's message key; who it was is not known.
func (auditHooks) SignInFailed(ctx context.Context, db *sqlite.DB, ip, reason string) {
	db.InTx(ctx, func(tx *sqlite.Tx) error {
		_, err := audit.Append(ctx, tx.Tx, audit.Entry{Time: tx.Now, Actor: audit.Anonymous, ActorIP: ip, Action: audit.SignInFailed,
			Outcome: audit.Failure, Details: map[string]string{"reason": reason}})
		return err
	})
}

// auditDelivery records each mail outcome with the status change.
func auditDelivery(ctx context.Context, tx *sql.Tx, r mail.Result) error {
	outcome := audit.Success
	if r.Status != "sent" {
		outcome = audit.Failure
	}
	_, err := audit.Append(ctx, tx, audit.Entry{Time: r.At, Actor: audit.System, Action: audit.Action("mail." + string(r.Kind)), MeetingID: string(r.MeetingID),
		Subject: "guest:" + string(r.InviteeID), Outcome: outcome, Details: map[string]string{"status": string(r.Status), "attempt": strconv.Itoa(r.Attempt), "delivery": string(r.ID)}})
	return err
}

func rolesString(rs []backend.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += string(r)
	}
	return s
}

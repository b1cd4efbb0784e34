package sfu

// The permission matrix lives here, in one place, so the table test can walk
// every command × role and the client's Permissions message is derived from
// the same functions the server enforces.

// moderatorCommands need moderator rights (host or cohost).
var moderatorCommands = map[string]bool{
	TypeAdmit: true, TypeDeny: true, TypeAdmitAllVerified: true,
	TypeMute: true, TypeRemove: true, TypePromote: true, TypeDemote: true,
	TypeLock: true, TypeUnlock: true, TypeRecord: true,
}

// Commands lists every client → server command, for the matrix test.
var Commands = []string{
	TypePing, TypeBye, TypeOffer, TypeAnswer, TypeCandidate, TypeChat, TypeUnmute, TypeUnpublish,
	TypeAdmit, TypeDeny, TypeAdmitAllVerified, TypeMute, TypeRemove, TypePromote, TypeDemote,
	TypeLock, TypeUnlock, TypeRecord,
}

// CommandAllowed reports whether role may send cmd in a room with opts once
// admitted, and the error code to answer with when it may not.
func CommandAllowed(opts RoomOptions, role Role, cmd string) (bool, string) {
	if moderatorCommands[cmd] {
		if !role.IsHost() {
			return false, CodeForbidden
		}
		if cmd == TypeRecord && !opts.RecordingAllowed {
			return false, CodeRecordingRefused
		}
		return true, ""
	}
	if cmd == TypeChat && !opts.Chat {
		return false, CodeChatDisabled
	}
	return true, ""
}

// CanPublish reports whether who, currently holding role, may publish a
// track of source src under opts. Promotion to presenter is how a host
// elevates someone ("hosts_elevated" and listen-only webinars).
func CanPublish(opts RoomOptions, who Identity, role Role, src Source) bool {
	switch src {
	case SourceScreen, SourceScreenAudio:
		switch opts.ScreenShare {
		case ShareInternalSignedIn:
			return role.IsHost() || role == RolePresenter ||
				who.Internal && (who.Level == LevelInternalMFA || who.Level == LevelInternalSSO)
		case ShareHostsElevated, ShareHostsPresenters, "":
			return role.IsHost() || role == RolePresenter
		}
		return false
	case SourceMicrophone, SourceCamera:
		if !opts.ListenOnlyAttendees {
			return true
		}
		// In a listen-only webinar attendees publish nothing until promoted;
		// an interpreter must be heard to do the job, but only by microphone.
		switch role {
		case RoleHost, RoleCohost, RolePresenter:
			return true
		case RoleInterpreter:
			return src == SourceMicrophone
		}
		return false
	}
	return false
}

// PermissionsFor derives what a client may do, for permissions_changed.
func PermissionsFor(opts RoomOptions, who Identity, role Role) Permissions {
	p := Permissions{Publish: []Source{}}
	for _, s := range []Source{SourceMicrophone, SourceCamera, SourceScreen} {
		if CanPublish(opts, who, role, s) {
			p.Publish = append(p.Publish, s)
		}
	}
	p.Chat, _ = CommandAllowed(opts, role, TypeChat)
	p.Moderate = role.IsHost()
	p.Record, _ = CommandAllowed(opts, role, TypeRecord)
	return p
}

// needsLobby reports whether who must wait for admission under opts.
// Hosts never wait, so a host who drops can always come back.
func needsLobby(opts RoomOptions, who Identity) bool {
	if who.Role.IsHost() {
		return false
	}
	if opts.Locked {
		return true
	}
	switch opts.Lobby {
	case LobbyEveryone:
		return true
	case LobbyExternals:
		return !who.Internal || !who.Level.Verified()
	}
	return false
}

// approvalsNeeded is how many distinct hosts must admit who.
func approvalsNeeded(opts RoomOptions, who Identity) int {
	if opts.TwoHostApprovalForExternals && !who.Internal {
		return 2
	}
	return 1
}

// Package backend holds Mötesvakt's domain types and the small service
// interfaces the rest of the backend implements: users, sessions, meetings,
// roles and the one application error type. It imports no driver; sqlite/,
// http/, auth/ and friends depend on it, never the other way round
// (Ben Johnson's Standard Package Layout).
package backend

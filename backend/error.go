package backend

import (
	"errors"
	"fmt"
)

// Application error codes. Each maps to one HTTP status in http/errors.go and
// nowhere else. Do not rename: clients and tests match on them.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ECONFLICT     = "conflict"
	ETOOMANY      = "too_many_requests"
	ETOOLARGE     = "too_large"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is the application error: a stable machine code, a locales key for
// the human message and the template data for it. The message is rendered in
// the caller's language at the edge (HTTP, CLI), never stored.
type Error struct {
	Code string
	// Key is a locales message key; empty means the generic message for Code.
	Key  string
	Args []any
	// Field optionally names the offending input field.
	Field string
	// Err is an optional cause, kept for logs only; never shown to users.
	Err error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Key != "" {
		s += ": " + e.Key
	}
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with a message key and its template
// data as alternating name/value pairs.
func Errorf(code, key string, args ...any) *Error {
	return &Error{Code: code, Key: key, Args: args}
}

// ErrorCode returns the code of an application error in err's chain, or
// EINTERNAL for anything else.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorKey returns the message key of an application error, falling back to
// the generic key of its code.
func ErrorKey(err error) (key string, args []any) {
	var e *Error
	if errors.As(err, &e) {
		if e.Key != "" {
			return e.Key, e.Args
		}
		return "error." + e.Code, nil
	}
	return "error.internal", nil
}

// Wrap annotates err with context while keeping any application error
// visible to ErrorCode.
func Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

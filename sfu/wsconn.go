package sfu

import (
	"context"
	"errors"

	"github.com/coder/websocket"
)

// wsConn adapts a coder/websocket connection to Conn.
type wsConn struct{ c *websocket.Conn }

// WebSocketConn wraps an accepted WebSocket for Room.Serve. It raises the
// read limit above MaxMessageSize so an oversized message reaches the SFU
// and gets a localized too_large error instead of a bare close frame.
func WebSocketConn(c *websocket.Conn) Conn {
	c.SetReadLimit(2 * MaxMessageSize)
	return wsConn{c}
}

var errBinary = errors.New("sfu: binary websocket message")

func (w wsConn) Read(ctx context.Context) ([]byte, error) {
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		// Treated like malformed JSON by the caller.
		return []byte("binary"), nil
	}
	return b, nil
}

func (w wsConn) Write(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, websocket.MessageText, msg)
}

func (w wsConn) Close(reason string) error {
	if len(reason) > 120 { // close reasons are limited to 123 bytes
		reason = reason[:120]
	}
	code := websocket.StatusNormalClosure
	if reason != "" {
		code = websocket.StatusPolicyViolation
	}
	return w.c.Close(code, reason)
}

package sfu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/motesvakt/motesvakt/sfu"
)

// TestWebSocketConn runs a session over a real WebSocket on loopback.
func TestWebSocketConn(t *testing.T) {
	s := newSFU(t, nil, nil)
	room := s.Room("ws", sfu.RoomOptions{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = room.Serve(r.Context(), sfu.WebSocketConn(c), host("ws-host"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() sfu.Message {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m sfu.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"v":1,"type":"join","lang":"sv"}`))
	if got, want := read().Type, sfu.TypeWelcome; got != want {
		t.Fatalf("first message = %q, want %q", got, want)
	}
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"v":1,"type":"chat","text":"`+strings.Repeat("x", sfu.MaxMessageSize)+`"}`))
	for {
		m := read()
		if m.Type == sfu.TypeError {
			if got, want := m.Error.Code, sfu.CodeTooLarge; got != want {
				t.Fatalf("error = %q, want %q", got, want)
			}
			break
		}
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("close = %v, want policy violation", err)
	}
}

package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TestClientSecretCredential runs the client-credentials exchange against a
// fake token endpoint on loopback.
func TestClientSecretCredential(t *testing.T) {
	var gotPath, gotScope, gotID string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		gotPath, gotScope = r.URL.Path, r.PostForm.Get("scope")
		gotID, _, _ = r.BasicAuth()
		if gotID == "" {
			gotID = r.PostForm.Get("client_id")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer srv.Close()
	c, err := NewClientSecretCredential(srv.URL, "tenant-1", "client-1", "secret")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.GetToken(context.Background(), policy.TokenRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token != "tok-1" || gotPath != "/tenant-1/oauth2/v2.0/token" || gotScope != "https://graph.microsoft.com/.default" || gotID != "client-1" {
		t.Errorf("token %q path %q scope %q client %q", tok.Token, gotPath, gotScope, gotID)
	}
	if _, err := NewClientSecretCredential("", "", "c", "s"); err == nil {
		t.Error("missing tenant accepted")
	}
}

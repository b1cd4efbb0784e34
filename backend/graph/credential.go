package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientSecretCredential is an app-only credential for Microsoft Graph
// (OAuth 2.0 client credentials against Entra ID). It spares the service
// the azidentity module; x/oauth2 caches and refreshes the token.
type ClientSecretCredential struct {
	cfg clientcredentials.Config
}

// NewClientSecretCredential builds a credential for tenant/client/secret;
// authority defaults to https://login.microsoftonline.com.
func NewClientSecretCredential(authority, tenant, clientID, secret string) (*ClientSecretCredential, error) {
	if tenant == "" || clientID == "" || secret == "" {
		return nil, fmt.Errorf("graph: tenant, client id and secret are required")
	}
	if authority == "" {
		authority = "https://login.microsoftonline.com"
	}
	return &ClientSecretCredential{cfg: clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret,
		TokenURL: strings.TrimRight(authority, "/") + "/" + tenant + "/oauth2/v2.0/token",
		Scopes:   []string{"https://graph.microsoft.com/.default"},
	}}, nil
}

// GetToken implements azcore.TokenCredential.
func (c *ClientSecretCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cfg := c.cfg
	if len(opts.Scopes) > 0 {
		cfg.Scopes = opts.Scopes
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("graph: token: %w", err)
	}
	return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.Expiry}, nil
}

package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/api/calendar/v3"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/auth/authtest"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/classifiers"
)

var updateGolden = flag.Bool("update-addin-golden", false, "rewrite testdata/addin_*.json")

const (
	addinTenant = "0b6f1c1e-1111-4222-8333-944455556666"
	addinAppID  = "5e1f2a3b-aaaa-4bbb-8ccc-ddddeeeeffff"
	addinGUID   = "7c3e2b7e-0b7a-4f4e-9a43-4d6f74657376"
	addinSA     = "service-42@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
	addinClient = "42-addon.apps.googleusercontent.com"
)

type addinServer struct {
	*testServer
	is       *authtest.Issuer
	svc      *addinFakeMeetings
	cal      *addinFakeCalendar
	officeJS string // body served at /test/office.js
	mu       sync.Mutex
}

// addinFakeCalendar is a loopback Calendar API with one calendar.
type addinFakeCalendar struct {
	*httptest.Server
	mu      sync.Mutex
	events  map[string]*calendar.Event
	patches []map[string]any
	auth    []string
}

func newAddinFakeCalendar() *addinFakeCalendar {
	f := &addinFakeCalendar{events: map[string]*calendar.Event{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/calendar/v3/"), "/")
		if len(parts) != 4 || parts[0] != "calendars" || parts[2] != "events" {
			http.NotFound(w, r)
			return
		}
		e := f.events[parts[3]]
		if e == nil {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":404,"message":"Not Found"}}`)
			return
		}
		if r.Method == http.MethodPatch {
			var raw map[string]any
			json.NewDecoder(r.Body).Decode(&raw)
			f.patches = append(f.patches, raw)
			b, _ := json.Marshal(raw)
			var p calendar.Event
			json.Unmarshal(b, &p)
			if p.Description != "" {
				e.Description = p.Description
			}
			if p.Location != "" {
				e.Location = p.Location
			}
			if p.ExtendedProperties != nil {
				e.ExtendedProperties = p.ExtendedProperties
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	}))
	return f
}

func newAddinServer(t *testing.T) *addinServer {
	t.Helper()
	is, err := authtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	bv, err := auth.NewBearerVerifier(ctx, auth.BearerConfig{Issuer: is.URL + "/{tenantid}/v2.0", JWKSURL: is.URL + "/keys", Audiences: []string{addinAppID}, Tenants: []string{addinTenant}})
	if err != nil {
		t.Fatal(err)
	}
	gv, err := auth.NewGoogleVerifier(ctx, auth.GoogleConfig{Issuers: []string{is.URL}, JWKSURL: is.URL + "/keys", ServiceAccount: addinSA})
	if err != nil {
		t.Fatal(err)
	}
	as := &addinServer{is: is, svc: newAddinFakeMeetings(), cal: newAddinFakeCalendar()}
	t.Cleanup(as.cal.Close)
	cfg := mhttp.AddinConfig{OutlookAddinID: addinGUID, AppID: addinAppID, AppIDURI: "api://motesvakt.example/" + addinAppID, OfficeJS: "/test/office.js",
		Bearer: bv, Google: gv, GoogleOAuthClientID: addinClient, GoogleCalendarURL: as.cal.URL + "/calendar/v3/", GoogleHTTPClient: as.cal.Client()}
	standIn := func(s *mhttp.Server) {
		s.Echo().GET("/test/office.js", func(c echo.Context) error {
			as.mu.Lock()
			defer as.mu.Unlock()
			return c.Blob(http.StatusOK, "text/javascript", []byte(as.officeJS))
		})
	}
	as.testServer = newTestServer(t, false, mhttp.WithAddins(cfg, as.svc), standIn)
	return as
}

// outlookToken is an Entra v2 access token for the add-in user; change
// alters claims.
func (as *addinServer) outlookToken(t *testing.T, change map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": as.is.URL + "/" + addinTenant + "/v2.0", "aud": addinAppID, "tid": addinTenant, "sub": "s-anna", "oid": "oid-anna",
		"scp": "access_as_user", "preferred_username": "anna@kommun.se", "name": "Anna Andersson", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	maps.Copy(claims, change)
	tok, err := as.is.SignToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAddinOutlookManifest(t *testing.T) {
	as := newAddinServer(t)
	resp, err := http.Get(as.URL + "/addin/outlook/manifest.xml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("manifest: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Structural validation: the official XSDs are not available offline,
	// so check well-formedness and the elements Outlook requires.
	type launchEvent struct {
		Type     string `xml:"Type,attr"`
		Function string `xml:"FunctionName,attr"`
		SendMode string `xml:"SendMode,attr"`
	}
	type extPoint struct {
		Type   string        `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
		Events []launchEvent `xml:"LaunchEvents>LaunchEvent"`
		Source struct {
			Resid string `xml:"resid,attr"`
		} `xml:"SourceLocation"`
	}
	type urlRes struct {
		ID    string `xml:"id,attr"`
		Value string `xml:"DefaultValue,attr"`
	}
	var m struct {
		XMLName     xml.Name
		Type        string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
		ID          string `xml:"Id"`
		Version     string `xml:"Version"`
		Provider    string `xml:"ProviderName"`
		Locale      string `xml:"DefaultLocale"`
		DisplayName struct {
			Value string `xml:"DefaultValue,attr"`
		} `xml:"DisplayName"`
		Description struct {
			Value string `xml:"DefaultValue,attr"`
		} `xml:"Description"`
		Icon struct {
			Value string `xml:"DefaultValue,attr"`
		} `xml:"IconUrl"`
		Hosts []struct {
			Name string `xml:"Name,attr"`
		} `xml:"Hosts>Host"`
		Permissions string `xml:"Permissions"`
		Rule        struct {
			Rules []struct {
				ItemType string `xml:"ItemType,attr"`
				FormType string `xml:"FormType,attr"`
			} `xml:"Rule"`
		} `xml:"Rule"`
		VO struct {
			Type string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			V11  struct {
				Type     string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				Runtimes []struct {
					Resid    string `xml:"resid,attr"`
					Override struct {
						Type  string `xml:"type,attr"`
						Resid string `xml:"resid,attr"`
					} `xml:"Override"`
				} `xml:"Hosts>Host>Runtimes>Runtime"`
				Points []extPoint `xml:"Hosts>Host>DesktopFormFactor>ExtensionPoint"`
				URLs   []urlRes   `xml:"Resources>Urls>Url"`
				Images []urlRes   `xml:"Resources>Images>Image"`
				WebApp struct {
					ID       string `xml:"Id"`
					Resource string `xml:"Resource"`
				} `xml:"WebApplicationInfo"`
			} `xml:"VersionOverrides"`
		} `xml:"VersionOverrides"`
	}
	if err := xml.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest is not well-formed: %v", err)
	}
	if m.XMLName.Local != "OfficeApp" || m.Type != "MailApp" || m.ID != addinGUID || m.Version == "" || m.Provider == "" || m.Locale != "sv-SE" || m.DisplayName.Value == "" || m.Description.Value == "" || m.Permissions != "ReadWriteItem" {
		t.Errorf("top level: %+v", m)
	}
	if len(m.Hosts) != 1 || m.Hosts[0].Name != "Mailbox" || len(m.Rule.Rules) != 1 || m.Rule.Rules[0].ItemType != "Appointment" || m.Rule.Rules[0].FormType != "Edit" {
		t.Errorf("hosts/rules: %+v %+v", m.Hosts, m.Rule)
	}
	if m.VO.Type != "VersionOverridesV1_0" || m.VO.V11.Type != "VersionOverridesV1_1" {
		t.Errorf("version overrides: %q %q", m.VO.Type, m.VO.V11.Type)
	}
	if len(m.VO.V11.Runtimes) != 1 || m.VO.V11.Runtimes[0].Resid != "WebViewRuntime.Url" || m.VO.V11.Runtimes[0].Override.Type != "javascript" || m.VO.V11.Runtimes[0].Override.Resid != "JSRuntime.Url" {
		t.Errorf("runtimes: %+v", m.VO.V11.Runtimes)
	}
	events := map[string]launchEvent{}
	types := map[string]bool{}
	for _, p := range m.VO.V11.Points {
		types[p.Type] = true
		for _, e := range p.Events {
			events[e.Type] = e
		}
		if p.Type == "LaunchEvent" && p.Source.Resid != "WebViewRuntime.Url" {
			t.Errorf("launch event source %q", p.Source.Resid)
		}
	}
	if !types["LaunchEvent"] || !types["AppointmentOrganizerCommandSurface"] {
		t.Errorf("extension points: %v", types)
	}
	for name, fn := range map[string]string{"OnNewAppointmentOrganizer": "onNewAppointment", "OnAppointmentAttendeesChanged": "onAttendeesChanged", "OnAppointmentSend": "onAppointmentSend"} {
		if events[name].Function != fn {
			t.Errorf("%s → %q, want %q", name, events[name].Function, fn)
		}
	}
	if events["OnAppointmentSend"].SendMode != "SoftBlock" {
		t.Errorf("send mode %q", events["OnAppointmentSend"].SendMode)
	}
	ids := map[string]string{}
	for _, u := range append(m.VO.V11.URLs, m.VO.V11.Images...) {
		ids[u.ID] = u.Value
		if !strings.HasPrefix(u.Value, as.URL+"/addin/outlook/") {
			t.Errorf("resource %s = %q, not under the public URL", u.ID, u.Value)
		}
	}
	for _, id := range []string{"WebViewRuntime.Url", "JSRuntime.Url", "TaskPane.Url", "Icon.16x16", "Icon.32x32", "Icon.80x80"} {
		if ids[id] == "" {
			t.Errorf("resource %s missing", id)
			continue
		}
		r, err := http.Get(ids[id])
		if err != nil || r.StatusCode != 200 {
			t.Errorf("resource %s (%s) not served: %v %v", id, ids[id], r.StatusCode, err)
		}
	}
	if m.VO.V11.WebApp.ID != addinAppID || !strings.HasPrefix(m.VO.V11.WebApp.Resource, "api://") {
		t.Errorf("web application info %+v", m.VO.V11.WebApp)
	}

	// The unified manifest and the Google deployment are valid JSON with
	// the same events and URLs.
	for _, p := range []string{"/addin/outlook/manifest.json", "/addin/google/deployment.json", "/.well-known/microsoft-officeaddins-allowed.json"} {
		r, err := http.Get(as.URL + p)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v", p, err)
		}
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			t.Errorf("%s: invalid JSON: %v", p, err)
		}
		r.Body.Close()
		b, _ := json.Marshal(doc)
		for _, want := range map[string][]string{
			"/addin/outlook/manifest.json":                     {`"newAppointmentOrganizerCreated"`, `"appointmentAttendeesChanged"`, `"appointmentSending"`, `"softBlock"`, `"` + addinGUID + `"`, as.URL + "/addin/outlook/commands.js"},
			"/addin/google/deployment.json":                    {`"eventOpenTrigger"`, `"eventUpdateTrigger"`, `"homepageTrigger"`, as.URL + "/addin/google/event-open", `"SYSTEM_ID_TOKEN"`},
			"/.well-known/microsoft-officeaddins-allowed.json": {as.URL + "/addin/outlook/commands.js"},
		}[p] {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}
	if r, _ := http.Get(as.URL + "/addin/outlook/addin.go"); r.StatusCode != 404 {
		t.Errorf("source file served: %d", r.StatusCode)
	}
}

func TestAddinBearerAPI(t *testing.T) {
	as := newAddinServer(t)
	c := &http.Client{Timeout: 10 * time.Second}
	ev := `{"subject":"Lönesamtal med Bo","body":"","attendees":[{"email":"bo@kommun.se"}]}`
	now := time.Now()
	for _, tt := range []struct {
		name   string
		change map[string]any
		want   int
	}{
		{"good", nil, 200},
		{"wrong audience", map[string]any{"aud": "api://someone-else"}, 401},
		{"wrong issuer", map[string]any{"iss": "https://evil.example/" + addinTenant + "/v2.0"}, 401},
		{"wrong tenant", map[string]any{"tid": "99999999-1111-4222-8333-944455556666", "iss": as.is.URL + "/99999999-1111-4222-8333-944455556666/v2.0"}, 401},
		{"expired", map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}, 401},
		{"missing scope", map[string]any{"scp": "User.Read"}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := postJSON(t, c, as.URL+"/api/v1/classify", ev, "Authorization", "Bearer "+as.outlookToken(t, tt.change))
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.want, m)
			}
			if tt.want == 401 && (errCode(m) != "unauthorized" || errMessage(m) == "") {
				t.Errorf("error body %v", m)
			}
			if tt.want == 200 && m["profile"] != "protected" {
				t.Errorf("classification %v", m)
			}
		})
	}
	if resp, _ := postJSON(t, c, as.URL+"/api/v1/classify", ev, "Authorization", "Bearer not.a.jwt"); resp.StatusCode != 401 {
		t.Errorf("garbage token: %d", resp.StatusCode)
	}
	if resp, _ := postJSON(t, c, as.URL+"/api/v1/classify", ev); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}

	tok := as.outlookToken(t, nil)
	prov := func(body string) (*http.Response, map[string]any) {
		return postJSON(t, c, as.URL+"/api/v1/meetings", body, "Authorization", "Bearer "+tok)
	}
	// Downgrades: hr allows one with a reason; incident forbids it.
	resp, m := prov(`{"event":` + ev + `,"profile":"internal","event_ref":{"provider":"outlook","id":"olk-1"}}`)
	if resp.StatusCode != 400 || m["error"].(map[string]any)["field"] != "override_reason" {
		t.Errorf("downgrade without reason: %d %v", resp.StatusCode, m)
	}
	resp, m = prov(`{"event":{"subject":"Säkerhetsincident i nätet"},"profile":"internal","override_reason":"x","event_ref":{"provider":"outlook","id":"olk-2"}}`)
	if resp.StatusCode != 403 {
		t.Errorf("forbidden downgrade: %d %v", resp.StatusCode, m)
	}
	resp, m = prov(`{"event":` + ev + `,"profile":"internal","override_reason":"Rutinsamtal","event_ref":{"provider":"outlook","id":"olk-1"}}`)
	if resp.StatusCode != 200 || m["join_url"] == "" {
		t.Fatalf("provision: %d %v", resp.StatusCode, m)
	}
	calls := as.svc.ProvisionCalls()
	if len(calls) != 1 {
		t.Fatalf("Provision calls %d", len(calls))
	}
	by := calls[0].By
	if by.Email != "anna@kommun.se" || by.UserID != auth.UserIDFor(as.is.URL+"/"+addinTenant+"/v2.0", "oid-anna") || !by.HasRole(backend.RoleHost) {
		t.Errorf("actor %+v", by)
	}
	if r := calls[0].Req; r.Profile != classifiers.ProfileInternal || r.OverrideReason != "Rutinsamtal" || r.EventRef.Key() != "outlook:id:olk-1" {
		t.Errorf("request %+v", r)
	}
	// CORS preflight for classic Outlook's JS runtime.
	req, _ := http.NewRequest(http.MethodOptions, as.URL+"/api/v1/meetings", nil)
	req.Header.Set("Origin", "https://outlook.office.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	r, err := c.Do(req)
	if err != nil || r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %v %v", r, err)
	}
}

// googleToken signs a Google system ID token for endpoint.
func (as *addinServer) googleToken(t *testing.T, endpoint string, change map[string]any) string {
	now := time.Now()
	claims := map[string]any{"iss": as.is.URL, "aud": endpoint, "sub": "1042", "email": addinSA, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	maps.Copy(claims, change)
	tok, err := as.is.SignToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (as *addinServer) googleUserToken(t *testing.T) string {
	now := time.Now()
	tok, err := as.is.SignToken(map[string]any{"iss": as.is.URL, "aud": addinClient, "sub": "g-anna", "email": "Anna@kommun.se", "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func googleEventObject(locale, eventID, userID string, attendees []string, form map[string]string) string {
	var at []map[string]any
	for _, a := range attendees {
		at = append(at, map[string]any{"email": a})
	}
	fi := map[string]any{}
	for k, v := range form {
		fi[k] = map[string]any{"stringInputs": map[string]any{"value": []string{v}}}
	}
	b, _ := json.Marshal(map[string]any{
		"commonEventObject":        map[string]any{"hostApp": "CALENDAR", "platform": "WEB", "userLocale": locale, "formInputs": fi},
		"calendar":                 map[string]any{"calendarId": "anna@kommun.se", "id": eventID, "organizer": map[string]any{"email": "anna@kommun.se"}, "attendees": at},
		"authorizationEventObject": map[string]any{"userOAuthToken": "ya29.user-token", "userIdToken": userID, "systemIdToken": "unused"},
	})
	return string(b)
}

// golden compares JSON with testdata/name after replacing the test URL.
func golden(t *testing.T, base string, got []byte, name string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v: %s", name, err, got)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	pretty = bytes.ReplaceAll(pretty, []byte(base), []byte("https://motesvakt.example"))
	pretty = append(pretty, '\n')
	path := filepath.Join("testdata", name)
	if *updateGolden {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-addin-golden)", err)
	}
	if !bytes.Equal(pretty, want) {
		t.Errorf("%s differs from golden:\n%s", name, pretty)
	}
}

func postGoogle(t *testing.T, as *addinServer, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, as.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAddinGoogleCards(t *testing.T) {
	as := newAddinServer(t)
	as.cal.events["ev1"] = &calendar.Event{Id: "ev1", ICalUID: "ev1@google.com", Summary: "Lönesamtal med Bo", Description: "Vi går igenom lönekriterierna.",
		Organizer: &calendar.EventOrganizer{Email: "anna@kommun.se"}, Attendees: []*calendar.EventAttendee{{Email: "bo@kommun.se"}}}
	attendees := []string{"bo@kommun.se", "ombud@advokat.se"}

	code, body := postGoogle(t, as, "/addin/google/home", as.googleToken(t, as.URL+"/addin/google/home", nil), googleEventObject("en-GB", "", "", nil, nil))
	if code != 200 {
		t.Fatalf("home: %d %s", code, body)
	}
	golden(t, as.URL, body, "addin_google_home_en.json")

	code, body = postGoogle(t, as, "/addin/google/event-open", as.googleToken(t, as.URL+"/addin/google/event-open", nil), googleEventObject("sv-SE", "ev1", "", attendees, nil))
	if code != 200 {
		t.Fatalf("event-open: %d %s", code, body)
	}
	golden(t, as.URL, body, "addin_google_event_open_sv.json")
	if got := as.cal.auth[0]; got != "Bearer ya29.user-token" {
		t.Errorf("calendar called with %q, want the user's OAuth token", got)
	}

	// Lowering without a reason: a notification, nothing provisioned.
	apply := as.googleToken(t, as.URL+"/addin/google/apply", nil)
	code, body = postGoogle(t, as, "/addin/google/apply", apply, googleEventObject("sv-SE", "ev1", as.googleUserToken(t), attendees, map[string]string{"profile": "internal"}))
	if code != 200 || !bytes.Contains(body, []byte("motivering")) || len(as.svc.ProvisionCalls()) != 0 {
		t.Errorf("downgrade without reason: %d %s", code, body)
	}
	code, body = postGoogle(t, as, "/addin/google/apply", apply, googleEventObject("sv-SE", "ev1", as.googleUserToken(t), attendees, map[string]string{"profile": "protected"}))
	if code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	golden(t, as.URL, body, "addin_google_apply_sv.json")
	calls := as.svc.ProvisionCalls()
	if len(calls) != 1 || calls[0].By.Email != "anna@kommun.se" || calls[0].Req.EventRef.Key() != "google:ical:ev1@google.com" || len(calls[0].Req.Event.Attendees) != 2 {
		t.Fatalf("provision calls %+v", calls)
	}
	e := as.cal.events["ev1"]
	if e.ExtendedProperties == nil || e.ExtendedProperties.Private["motesvaktMeeting"] != "m001" || e.ExtendedProperties.Private["motesvaktProfile"] != "protected" {
		t.Errorf("extended properties %+v", e.ExtendedProperties)
	}
	if e.Location != "https://mv.test/m/m001" || !strings.Contains(e.Description, "https://mv.test/m/m001") || !strings.HasPrefix(e.Description, "Vi går igenom") {
		t.Errorf("write-back location %q description %q", e.Location, e.Description)
	}

	// Token checks: another endpoint's audience, another service account,
	// a forged signature, none at all.
	for name, tok := range map[string]string{
		"audience of another endpoint": as.googleToken(t, as.URL+"/addin/google/home", nil),
		"other service account":        as.googleToken(t, as.URL+"/addin/google/event-open", map[string]any{"email": "x@evil.iam.gserviceaccount.com"}),
		"expired":                      as.googleToken(t, as.URL+"/addin/google/event-open", map[string]any{"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}),
		"user token as system token":   as.googleUserToken(t),
		"missing":                      "",
	} {
		if code, body := postGoogle(t, as, "/addin/google/event-open", tok, googleEventObject("sv-SE", "ev1", "", nil, nil)); code != 401 {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	// apply needs a valid user ID token too.
	if code, _ := postGoogle(t, as, "/addin/google/apply", apply, googleEventObject("sv-SE", "ev1", "forged", attendees, map[string]string{"profile": "protected"})); code != 401 {
		t.Errorf("apply with bad user token: %d", code)
	}
}

func TestAddinCalendarHooksMounted(t *testing.T) {
	echoToken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.Query().Get("validationToken"))
	})
	ts := newTestServer(t, false, mhttp.WithCalendarHooks(echoToken, echoToken))
	for _, p := range []string{"/hooks/graph", "/hooks/gcal"} {
		// Graph's handshake is a text/plain POST without cookies or CSRF
		// token; it must reach the handler.
		resp, err := http.Post(ts.URL+p+"?validationToken=abc%20def", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "abc def" {
			t.Errorf("%s: %d %q", p, resp.StatusCode, b)
		}
	}
}

package gcal_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/api/calendar/v3"
)

// fakeCalendar is a loopback Google Calendar: events with a change
// sequence (sync tokens are "s<seq>"), watch/stop, get/list/patch, and
// scripted faults.
type fakeCalendar struct {
	*httptest.Server
	mu           sync.Mutex
	seq          int
	events       map[string]*calendar.Event
	changed      map[string]int
	deleted      map[string]bool // listed as changed but gone on GET
	watches      []calendar.Channel
	stopped      []string
	patches      []map[string]any
	faults       []int  // statuses for the next requests, consumed in order
	retryHdr     string // Retry-After sent with faults
	expireTokens bool
	requests     []string
}

func newFakeCalendar() *fakeCalendar {
	f := &fakeCalendar{events: map[string]*calendar.Event{}, changed: map[string]int{}, deleted: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeCalendar) put(e *calendar.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	cp := *e
	f.events[e.Id] = &cp
	f.changed[e.Id] = f.seq
}

func (f *fakeCalendar) get(id string) *calendar.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := *f.events[id]
	return &cp
}

func (f *fakeCalendar) fail(retryAfter string, codes ...int) {
	f.mu.Lock()
	f.faults, f.retryHdr = append(f.faults, codes...), retryAfter
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeCalendar) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if len(f.faults) > 0 {
		code := f.faults[0]
		f.faults = f.faults[1:]
		if f.retryHdr != "" {
			w.Header().Set("Retry-After", f.retryHdr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"scripted"}}`, code)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/calendar/v3/")
	parts := strings.Split(p, "/")
	switch {
	case r.Method == http.MethodPost && p == "channels/stop":
		var ch calendar.Channel
		json.NewDecoder(r.Body).Decode(&ch)
		f.stopped = append(f.stopped, ch.Id)
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 4 && parts[0] == "calendars" && parts[2] == "events" && parts[3] == "watch":
		var ch calendar.Channel
		json.NewDecoder(r.Body).Decode(&ch)
		f.watches = append(f.watches, ch)
		writeJSON(w, calendar.Channel{Id: ch.Id, ResourceId: "res-" + parts[1], Expiration: ch.Expiration, Kind: "api#channel"})
	case len(parts) == 3 && parts[0] == "calendars" && parts[2] == "events" && r.Method == http.MethodGet:
		since := 0
		if tok := r.URL.Query().Get("syncToken"); tok != "" {
			if f.expireTokens {
				f.expireTokens = false
				w.WriteHeader(http.StatusGone)
				fmt.Fprint(w, `{"error":{"code":410,"message":"Sync token is no longer valid"}}`)
				return
			}
			since, _ = strconv.Atoi(strings.TrimPrefix(tok, "s"))
		}
		var items []*calendar.Event
		for id, s := range f.changed {
			if s > since {
				items = append(items, f.events[id])
			}
		}
		writeJSON(w, calendar.Events{Items: items, NextSyncToken: "s" + strconv.Itoa(f.seq)})
	case len(parts) == 4 && parts[0] == "calendars" && parts[2] == "events":
		id := parts[3]
		e, ok := f.events[id]
		if !ok || f.deleted[id] {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"message":"Not Found"}}`)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, e)
		case http.MethodPatch:
			var raw map[string]any
			var patch calendar.Event
			b := new(strings.Builder)
			json.NewDecoder(r.Body).Decode(&raw)
			bb, _ := json.Marshal(raw)
			b.Write(bb)
			json.Unmarshal(bb, &patch)
			f.patches = append(f.patches, raw)
			if patch.Description != "" {
				e.Description = patch.Description
			}
			if patch.Location != "" {
				e.Location = patch.Location
			}
			if patch.ExtendedProperties != nil {
				if e.ExtendedProperties == nil {
					e.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{}}
				}
				if e.ExtendedProperties.Private == nil {
					e.ExtendedProperties.Private = map[string]string{}
				}
				for k, v := range patch.ExtendedProperties.Private {
					e.ExtendedProperties.Private[k] = v
				}
			}
			f.seq++
			f.changed[id] = f.seq
			writeJSON(w, e)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}

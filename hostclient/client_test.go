package hostclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestREPL drives the prompt with a script covering every command and
// every kind of server-to-client traffic, over both protocol generations.
func TestREPL(t *testing.T) {
	script := strings.Join([]string{
		"help",
		"list",
		`call get_ticket {"id":"T-1"}`,
		`call escalate {"id":"T-1"}`,
		`call refund {"id":"T-1"}`,
		"abc", // amount: not a number, asked again
		"",    // amount: the default
		"yes", // confirm
		"3",   // count
		"",    // note: left out
		"broken",
		"damaged", // reason
		"maybe",
		"accept",
		"call summarize",
		"call fail {}",
		`call get_ticket {not json}`,
		"read ticket://T-1",
		"bogus",
		"quit",
		"list", // never read
	}, "\n") + "\n"

	for _, tc := range []struct {
		name      string
		mode      serverMode
		version   string
		wantState bool
	}{
		{"session 2025-11-25", stateful, sessionProtocol, true},
		{"stateless 2026-07-28", stateless, statelessProtocol, false},
		{"stateless negotiated", stateless, "", false},
		{"both, session pinned", dual, sessionProtocol, true},
		{"both, negotiated", dual, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.mode)
			statePath := filepath.Join(t.TempDir(), "state", "client.json")
			var out, errOut buffer
			c := newClient(t, Options{
				URL:             ts.URL,
				ProtocolVersion: tc.version,
				SamplingReply:   "Customer wants a refund.",
				StatePath:       statePath,
				In:              strings.NewReader(script),
				Out:             &out,
				Err:             &errOut,
			})
			if err := c.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
			}
			stdout, stderr := out.String(), errOut.String()
			wantVersion := tc.version
			if wantVersion == "" {
				wantVersion = statelessProtocol
			}
			assertContains(t, "stdout", stdout,
				"(protocol "+wantVersion,
				"call NAME [JSON]", // help
				"tools:",
				"  get_ticket {id*: string}  Fetch a ticket",
				"  ticket://T-1  T-1",
				"  ticket://{id}  ticket",
				`"status": "open"`,
				`"version": 3`,
				"[progress 1/5] queued",
				"[progress 2/5] escalated",
				"[log warning] escalation: refund above limit",
				"escalated T-1",
				"→ negotiation://N-1 (N-1)",
				"[elicit] Refund 250 EUR on T-1?",
				"amount (number) - EUR to refund [default: 250]: ",
				"confirm (boolean, required) - Refund now?: ",
				"count (integer) Items: ",
				"reason (string, one of: duplicate=Duplicate charge | damaged=Damaged goods, required): ",
				"a number is required",
				"choose one of the listed values",
				"answer accept, decline or cancel",
				"[sampling] the server asks for a model reply (at most 200 tokens)",
				"  system: You summarise support tickets.",
				"  user: Summarise ticket T-1",
				"summary by parley-client/scripted: Customer wants a refund.",
			)
			// The elicited content, with JSON types from the schema.
			var refund struct {
				Action  string         `json:"action"`
				Content map[string]any `json:"content"`
			}
			i := strings.Index(stdout, `"action": "accept"`)
			if i < 0 {
				t.Fatalf("no refund result in:\n%s", stdout)
			}
			start := strings.LastIndex(stdout[:i], "{")
			dec := json.NewDecoder(strings.NewReader(stdout[start:]))
			if err := dec.Decode(&refund); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"amount": 250.0, "confirm": true, "count": 3.0, "reason": "damaged"}
			if len(refund.Content) != len(want) {
				t.Errorf("content = %v, want %v", refund.Content, want)
			}
			for k, v := range want {
				if refund.Content[k] != v {
					t.Errorf("content[%s] = %#v, want %#v", k, refund.Content[k], v)
				}
			}

			assertContains(t, "stderr", stderr,
				"[tool error]\nticket T-9 not found",
				"the arguments must be a JSON object",
				`unknown command "bogus"`,
			)
			if strings.Contains(stdout, "T-9") {
				t.Error("the tool error went to stdout")
			}

			// The bearer token reached the server on every request.
			reqs := ts.seen()
			if len(reqs) == 0 {
				t.Fatal("no requests")
			}
			for _, r := range reqs {
				if r.auth != "Bearer "+testToken {
					t.Errorf("%s request without the token: %q", r.method, r.auth)
				}
			}

			st, err := LoadState(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantState {
				if st != nil {
					t.Errorf("state saved for a stateless session: %+v", st)
				}
				return
			}
			if st == nil {
				t.Fatal("no state file")
			}
			if st.URL != ts.URL || st.SessionID == "" || st.ProtocolVersion != sessionProtocol {
				t.Errorf("state = %+v", st)
			}
			fi, err := os.Stat(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("state file mode = %v, want 0600", perm)
			}
			assertContains(t, "stdout", stdout, "[session] kept session "+st.SessionID)
			// The session was kept: no DELETE, and the requests after
			// initialize carried the session and version headers.
			for _, r := range reqs {
				if r.method == "DELETE" {
					t.Error("the kept session was deleted")
				}
				if r.sessionID == st.SessionID && r.protocolVersion != sessionProtocol {
					t.Errorf("%s on the session with protocol version %q", r.method, r.protocolVersion)
				}
			}
		})
	}
}

func TestCall(t *testing.T) {
	for _, proto := range []struct {
		name    string
		mode    serverMode
		version string
	}{
		{"session", stateful, sessionProtocol},
		{"stateless", stateless, statelessProtocol},
	} {
		ts := newTestServer(t, proto.mode)
		for _, tc := range []struct {
			name, tool, args, in, samplingReply string
			wantErr                             error // nil, ErrToolError, or errAny
			wantOut, wantErrOut                 []string
		}{
			{
				name: "structured", tool: "get_ticket", args: `{"id":"T-7"}`,
				wantOut: []string{`"id": "T-7"`, `"status": "open"`},
			},
			{
				name: "progress to stderr", tool: "escalate",
				wantOut:    []string{"escalated T-1", "→ negotiation://N-1"},
				wantErrOut: []string{"[progress 2/5] escalated", "[log warning]"},
			},
			{
				name: "tool error", tool: "fail", wantErr: ErrToolError,
				wantErrOut: []string{"ticket T-9 not found"},
			},
			{
				name: "elicitation from stdin", tool: "refund", in: "10.5\nno\n\nsee ticket\nduplicate\na\n",
				wantOut:    []string{`"action": "accept"`, `"amount": 10.5`, `"confirm": false`, `"note": "see ticket"`, `"reason": "duplicate"`},
				wantErrOut: []string{"[elicit] Refund 250 EUR on T-1?"},
			},
			{
				name: "elicitation declined", tool: "refund", in: "\nyes\n\n\ndamaged\ndecline\n",
				wantOut: []string{`"action": "decline"`},
			},
			{
				name: "elicitation without input is cancelled", tool: "refund",
				wantOut: []string{`"action": "cancel"`},
			},
			{
				name: "sampling typed by a person", tool: "summarize", in: "Duplicate charge, refund it.\n",
				wantOut:    []string{"summary by human: Duplicate charge, refund it."},
				wantErrOut: []string{"reply (one line; /decline to refuse)> "},
			},
			{
				name: "sampling scripted", tool: "summarize", samplingReply: "All good.",
				wantOut: []string{"summary by parley-client/scripted: All good."},
			},
			{
				name: "unknown tool", tool: "nope", wantErr: errAny,
			},
		} {
			t.Run(proto.name+"/"+tc.name, func(t *testing.T) {
				var out, errOut buffer
				c := newClient(t, Options{
					URL:             ts.URL,
					ProtocolVersion: proto.version,
					SamplingReply:   tc.samplingReply,
					In:              strings.NewReader(tc.in),
					Out:             &out,
					Err:             &errOut,
				})
				err := c.Call(context.Background(), tc.tool, json.RawMessage(tc.args))
				switch {
				case tc.wantErr == nil && err != nil:
					t.Fatalf("Call: %v\nstderr:\n%s", err, errOut.String())
				case tc.wantErr == errAny && err == nil:
					t.Fatal("Call succeeded")
				case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
					t.Fatalf("Call = %v, want %v", err, tc.wantErr)
				}
				assertContains(t, "stdout", out.String(), tc.wantOut...)
				assertContains(t, "stderr", errOut.String(), tc.wantErrOut...)
				if tc.wantErr == nil {
					// stdout holds the result only.
					if s := out.String(); strings.Contains(s, "[session]") || strings.Contains(s, "[progress") {
						t.Errorf("notes on stdout:\n%s", s)
					}
				}
			})
		}
	}
}

var errAny = errors.New("any error")

// TestResume runs the prompt three times on one state file: the second
// run resumes the first one's session and gets the update it missed; the
// third finds the session gone after a server restart and starts afresh.
func TestResume(t *testing.T) {
	ts := newTestServer(t, stateful)
	statePath := filepath.Join(t.TempDir(), "client.json")
	ctx := context.Background()
	opts := func(in io.Reader, out *buffer) Options {
		return Options{URL: ts.URL, ProtocolVersion: sessionProtocol, StatePath: statePath, In: in, Out: out, Err: out}
	}

	// Run 1: subscribe, get one update live, quit.
	in1, w1 := io.Pipe()
	var out1 buffer
	done := runAsync(ctx, newClient(t, opts(in1, &out1)))
	io.WriteString(w1, "subscribe ticket://T-1\n")
	waitFor(t, &out1, "subscribed to ticket://T-1")
	ts.updated(t, "ticket://T-1")
	waitFor(t, &out1, "[updated] ticket://T-1")
	io.WriteString(w1, "quit\n")
	wait(t, done)
	w1.Close()

	st1 := mustState(t, statePath)
	if st1.SessionID == "" || st1.LastEventID == "" || len(st1.Subscriptions) != 1 {
		t.Fatalf("state after run 1 = %+v", st1)
	}

	// While no client is connected.
	ts.updated(t, "ticket://T-1")

	// Run 2: resumes, replays the missed update (only that one).
	in2, w2 := io.Pipe()
	var out2 buffer
	done = runAsync(ctx, newClient(t, opts(in2, &out2)))
	waitFor(t, &out2, "[session] resumed session "+st1.SessionID)
	waitFor(t, &out2, "[updated] ticket://T-1")
	io.WriteString(w2, `call get_ticket {"id":"T-1"}`+"\n")
	waitFor(t, &out2, `"status": "open"`)
	io.WriteString(w2, "quit\n")
	wait(t, done)
	w2.Close()
	if n := strings.Count(out2.String(), "[updated]"); n != 1 {
		t.Errorf("run 2 printed %d updates, want the 1 missed:\n%s", n, out2.String())
	}
	st2 := mustState(t, statePath)
	if st2.SessionID != st1.SessionID || st2.LastEventID == st1.LastEventID {
		t.Errorf("state after run 2 = %+v, after run 1 = %+v", st2, st1)
	}
	var resumedGET bool
	for _, r := range ts.seen() {
		if r.method == "GET" && r.lastEventID == st1.LastEventID && r.sessionID == st1.SessionID {
			resumedGET = true
		}
	}
	if !resumedGET {
		t.Errorf("no GET with Last-Event-ID %s", st1.LastEventID)
	}

	// Run 3: the server restarted, so the session is gone.
	ts.restart()
	var out3 buffer
	if err := newClient(t, opts(strings.NewReader("quit\n"), &out3)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "run 3", out3.String(),
		"[session] the saved session "+st1.SessionID+" is gone (the server no longer knows it: HTTP 404); starting a new session",
		"[session] subscribed again to ticket://T-1",
	)
	st3 := mustState(t, statePath)
	if st3.SessionID == "" || st3.SessionID == st1.SessionID || st3.LastEventID != "" {
		t.Errorf("state after run 3 = %+v", st3)
	}

	// Run 4: the session dies while the prompt runs.
	in4, w4 := io.Pipe()
	var out4 buffer
	done = runAsync(ctx, newClient(t, opts(in4, &out4)))
	waitFor(t, &out4, `type "help"`)
	ts.waitForRequest(t, "GET", st3.SessionID) // the stream is attached before the restart
	ts.restart()
	io.WriteString(w4, "list\n")
	waitFor(t, &out4, "run the command again")
	io.WriteString(w4, "list\nquit\n")
	wait(t, done)
	w4.Close()
	assertContains(t, "run 4", out4.String(), "is gone", "subscribed again to ticket://T-1", "get_ticket {id*: string}")
	st4 := mustState(t, statePath)
	if st4.SessionID == st3.SessionID {
		t.Errorf("state after run 4 still has session %s", st3.SessionID)
	}

	// clean-state forgets the session and ends it on the server.
	c := newClient(t, opts(nil, nil))
	id, err := c.CleanState(ctx)
	if err != nil || id != st4.SessionID {
		t.Fatalf("CleanState = %q, %v; want %q", id, err, st4.SessionID)
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file still there: %v", err)
	}
	var deleted bool
	for _, r := range ts.seen() {
		if r.method == "DELETE" && r.sessionID == st4.SessionID {
			deleted = true
		}
	}
	if !deleted {
		t.Error("clean-state did not end the session")
	}
	if id, err := c.CleanState(ctx); id != "" || err != nil {
		t.Errorf("second CleanState = %q, %v", id, err)
	}
}

func mustState(t *testing.T, path string) *State {
	t.Helper()
	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("no state file")
	}
	return st
}

// TestResumeRefused covers saved states that must not be resumed.
func TestResumeRefused(t *testing.T) {
	ts := newTestServer(t, stateful)
	for _, tc := range []struct {
		name    string
		state   State
		pin     string
		wantOut string
	}{
		{"other URL", State{URL: "http://127.0.0.1:1/mcp", SessionID: "S", ProtocolVersion: sessionProtocol}, "", "the saved session is for http://127.0.0.1:1/mcp"},
		{"other version", State{URL: ts.URL, SessionID: "S", ProtocolVersion: "2025-06-18"}, sessionProtocol, "uses protocol 2025-06-18, not 2025-11-25"},
		{"unknown session", State{URL: ts.URL, SessionID: "S", ProtocolVersion: sessionProtocol}, "", "the saved session S is gone (the server no longer knows it: HTTP 404)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "client.json")
			if err := SaveState(path, &tc.state); err != nil {
				t.Fatal(err)
			}
			var out buffer
			c := newClient(t, Options{URL: ts.URL, ProtocolVersion: tc.pin, StatePath: path, In: strings.NewReader("quit\n"), Out: &out, Err: &out})
			if err := c.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertContains(t, "output", out.String(), tc.wantOut, "[session] connected to test-server v1, session ")
			if st := mustState(t, path); st.SessionID == "S" || st.URL != ts.URL {
				t.Errorf("state = %+v", st)
			}
		})
	}
}

func TestBearerRejected(t *testing.T) {
	ts := newTestServer(t, stateful)
	var out buffer
	c := newClient(t, Options{URL: ts.URL, Token: "wrong", Out: &out, Err: &out})
	if err := c.Call(context.Background(), "get_ticket", nil); err == nil {
		t.Fatal("Call with a wrong token succeeded")
	}
	for _, r := range ts.seen() {
		if r.auth != "Bearer wrong" {
			t.Errorf("request with %q", r.auth)
		}
	}
}

// TestLostSessionOnDualServer: against a server speaking both protocol
// generations, a lost session is replaced by a session of the same
// protocol (not the stateless one the SDK would negotiate) and its
// subscriptions are renewed; pinning the stateless protocol forgets the
// saved session and still renews the subscriptions.
func TestLostSessionOnDualServer(t *testing.T) {
	ts := newTestServer(t, dual)
	path := filepath.Join(t.TempDir(), "client.json")
	lost := &State{URL: ts.URL, SessionID: "LOST", ProtocolVersion: sessionProtocol, Subscriptions: []string{"ticket://T-1"}}
	if err := SaveState(path, lost); err != nil {
		t.Fatal(err)
	}
	var out buffer
	c := newClient(t, Options{URL: ts.URL, StatePath: path, In: strings.NewReader("quit\n"), Out: &out, Err: &out})
	if err := c.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "output", out.String(),
		"the saved session LOST is gone",
		"(protocol "+sessionProtocol+")",
		"[session] subscribed again to ticket://T-1",
	)
	st := mustState(t, path)
	if st.SessionID == "LOST" || st.ProtocolVersion != sessionProtocol || len(st.Subscriptions) != 1 {
		t.Errorf("state = %+v", st)
	}

	// Pinned to the stateless protocol: nothing to keep.
	in, w := io.Pipe()
	defer w.Close()
	var out2 buffer
	done := runAsync(t.Context(), newClient(t, Options{URL: ts.URL, ProtocolVersion: statelessProtocol, StatePath: path, In: in, Out: &out2, Err: &out2}))
	waitFor(t, &out2, `type "help"`)
	assertContains(t, "output", out2.String(),
		"uses protocol 2025-11-25, not 2026-07-28",
		"protocol 2026-07-28 has no session to keep; forgot the saved one",
		"[session] subscribed again to ticket://T-1",
	)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file kept: %v", err)
	}
	// The stateless subscription (subscriptions/listen) delivers updates.
	// Subscribe returns once the listen request is sent, maybe before the
	// server has registered it: notify until one arrives.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out2.String(), "[updated] ticket://T-1"); {
		if time.Now().After(deadline) {
			t.Fatalf("no update; output:\n%s", out2.String())
		}
		ts.updated(t, "ticket://T-1")
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(w, "quit\n")
	wait(t, done)
}

// TestResumeWithoutReplay: the session is still there but the server
// cannot replay what it sent meanwhile; the client says so and reopens
// the stream without Last-Event-ID.
func TestResumeWithoutReplay(t *testing.T) {
	ts := newTestServer(t, stateful)
	path := filepath.Join(t.TempDir(), "client.json")
	opts := func(in io.Reader, out *buffer) Options {
		return Options{URL: ts.URL, ProtocolVersion: sessionProtocol, StatePath: path, In: in, Out: out, Err: out}
	}
	in1, w1 := io.Pipe()
	defer w1.Close()
	var out1 buffer
	done := runAsync(t.Context(), newClient(t, opts(in1, &out1)))
	io.WriteString(w1, "subscribe ticket://T-1\n")
	waitFor(t, &out1, "subscribed to")
	ts.updated(t, "ticket://T-1")
	waitFor(t, &out1, "[updated]")
	io.WriteString(w1, "quit\n")
	wait(t, done)
	st := mustState(t, path)

	ts.refuseReplay.Store(true)
	in2, w2 := io.Pipe()
	defer w2.Close()
	var out2 buffer
	done = runAsync(t.Context(), newClient(t, opts(in2, &out2)))
	waitFor(t, &out2, "[stream] the server cannot replay events after "+st.LastEventID+" (failed to replay events); notifications sent meanwhile are lost")
	waitFor(t, &out2, `type "help"`)
	ts.updated(t, "ticket://T-1")
	waitFor(t, &out2, "[updated] ticket://T-1")
	io.WriteString(w2, "quit\n")
	wait(t, done)
}

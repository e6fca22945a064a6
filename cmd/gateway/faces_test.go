package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2apb"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// testIssuer is a real OIDC issuer on loopback (go-oidc's oidctest).
type testIssuer struct {
	url string
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	o.SetIssuer(srv.URL)
	return &testIssuer{url: srv.URL, key: key}
}

// token signs a token for sub, valid for an hour, with overrides (nil
// deletes a claim).
func (i *testIssuer) token(t *testing.T, sub string, over map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": i.url, "aud": "parley", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range over {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return oidctest.SignIDToken(i.key, "k1", oidc.RS256, string(b))
}

var grpcListeningRE = regexp.MustCompile(`msg="a2a gRPC listening" .*?addr=(\S+)`)

// TestServedFacesAuthenticateAndAuditAlike runs the gateway with an OIDC
// issuer and checks, through real sockets, that:
//   - every face (MCP, A2A JSON-RPC, the relay, the admin API, gRPC)
//     refuses the same bad tokens, and accepts the same good one (a token
//     whose exp was a string got through every face but MCP: issue 10,
//     finding 6), each refusal recorded once as auth.refused;
//   - a caller's attempt on another caller's task is recorded as denied,
//     naming the task, over JSON-RPC and over gRPC, and gRPC calls are
//     recorded as their JSON-RPC twins are (finding 8);
//   - the audit chain in the SQLite file still verifies.
func TestServedFacesAuthenticateAndAuditAlike(t *testing.T) {
	iss := newTestIssuer(t)
	dbPath := filepath.Join(t.TempDir(), "parley.db")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--store", "sqlite://" + dbPath,
			"--oidc-issuer", iss.url, "--oidc-audience", "parley"},
			strings.NewReader(""), &stdout, &stderr, getenvFrom(nil))
	}()
	addr := waitFor(t, &stderr, listeningRE, exited)
	grpcAddr := waitFor(t, &stderr, grpcListeningRE, exited)
	base := "http://" + addr

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a2aGRPC := a2apb.NewA2AServiceClient(conn)

	post := func(t *testing.T, path, token, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
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
	grpcCtx := func(t *testing.T, token string) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	const taskGet = `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"no-such-task"}}`
	// Each face answers whether the token got past authentication.
	faces := []struct {
		endpoint string // as auth.refused records name it
		passes   func(t *testing.T, token string) bool
	}{
		{"mcp", func(t *testing.T, token string) bool {
			code, _ := post(t, "/mcp", token, initialize)
			return code != http.StatusUnauthorized
		}},
		{"a2a", func(t *testing.T, token string) bool {
			code, _ := post(t, "/a2a", token, taskGet)
			return code != http.StatusUnauthorized
		}},
		{"a2a", func(t *testing.T, token string) bool {
			code, _ := post(t, "/a2a/agents/billing/", token, taskGet)
			return code != http.StatusUnauthorized
		}},
		{"admin", func(t *testing.T, token string) bool {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/agents", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode != http.StatusUnauthorized
		}},
		{"grpc", func(t *testing.T, token string) bool {
			_, err := a2aGRPC.GetTask(grpcCtx(t, token), &a2apb.GetTaskRequest{Name: "tasks/no-such-task"})
			return status.Code(err) != codes.Unauthenticated
		}},
	}

	now := time.Now()
	in := func(d time.Duration) int64 { return now.Add(d).Unix() }
	badTokens := []struct {
		name string
		over map[string]any
	}{
		{"exp a string", map[string]any{"exp": strconv.FormatInt(in(time.Hour), 10)}},
		{"nbf a string", map[string]any{"nbf": strconv.FormatInt(in(-time.Minute), 10)}},
		{"iat a string", map[string]any{"iat": strconv.FormatInt(in(0), 10)}},
		{"exp beyond year 9999", map[string]any{"exp": int64(1e15)}},
		{"no exp", map[string]any{"exp": nil}},
		{"expired", map[string]any{"exp": in(-time.Minute)}},
		{"not yet valid", map[string]any{"nbf": in(time.Hour), "exp": in(2 * time.Hour)}},
		{"issued in the future", map[string]any{"iat": in(time.Hour), "exp": in(2 * time.Hour)}},
		{"wrong audience", map[string]any{"aud": "elsewhere"}},
	}
	var wantRefused []string
	for _, tt := range badTokens {
		t.Run(tt.name, func(t *testing.T) {
			token := iss.token(t, "mallory", tt.over)
			for _, f := range faces {
				if f.passes(t, token) {
					t.Errorf("the %s face accepted the token", f.endpoint)
				}
			}
		})
		for _, f := range faces {
			wantRefused = append(wantRefused, f.endpoint)
		}
	}
	t.Run("good token, fractional exp", func(t *testing.T) {
		token := iss.token(t, "carol", map[string]any{"exp": float64(in(time.Hour)) + 0.5})
		for _, f := range faces {
			if !f.passes(t, token) {
				t.Errorf("the %s face refused a good token", f.endpoint)
			}
		}
	})

	// Alice starts a task; Bob tries it over both bindings.
	alice, bob := iss.token(t, "alice", nil), iss.token(t, "bob", nil)
	code, body := post(t, "/a2a", alice, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"data","data":{"tool":"list_tickets"}}]}}}`)
	var sent struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &sent); err != nil || code != http.StatusOK || sent.Result.ID == "" {
		t.Fatalf("alice's message/send: %d %s", code, body)
	}
	taskID := sent.Result.ID
	if _, err := a2aGRPC.GetTask(grpcCtx(t, bob), &a2apb.GetTaskRequest{Name: "tasks/" + taskID}); status.Code(err) != codes.NotFound {
		t.Errorf("bob's gRPC GetTask of alice's task: %v, want NotFound", err)
	}
	if code, body := post(t, "/a2a", bob, `{"jsonrpc":"2.0","id":2,"method":"tasks/cancel","params":{"id":"`+taskID+`"}}`); code != http.StatusOK || !bytes.Contains(body, []byte(`"error"`)) {
		t.Errorf("bob's tasks/cancel of alice's task: %d %s, want a JSON-RPC error", code, body)
	}
	if _, err := a2aGRPC.GetTask(grpcCtx(t, alice), &a2apb.GetTaskRequest{Name: "tasks/" + taskID}); err != nil {
		t.Errorf("alice's gRPC GetTask: %v", err)
	}

	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("exit status %d\n%s", code, &stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop:\n%s", &stderr)
	}

	st, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []store.AuditRecord
	for after := int64(0); ; {
		page, more, err := st.ListAudit(context.Background(), store.AuditFilter{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, page...)
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].Seq
	}
	var refused []string
	type row struct{ Subject, Action, Outcome, TaskID, Method, GRPCCode, Reason string }
	var calls []row
	for _, r := range recs {
		if r.Action == "auth.refused" {
			refused = append(refused, r.Target)
			continue
		}
		if (r.Subject == "alice" || r.Subject == "bob") && strings.HasPrefix(r.Action, "a2a.") {
			var d map[string]string
			_ = json.Unmarshal(r.Detail, &d)
			calls = append(calls, row{r.Subject, r.Action, r.Outcome, r.TaskID, d["method"], d["grpc_code"], d["reason"]})
		}
	}
	slices.Sort(refused)
	slices.Sort(wantRefused)
	if !slices.Equal(refused, wantRefused) {
		t.Errorf("auth.refused records for endpoints\n %q\nwant\n %q", refused, wantRefused)
	}
	const other = "the task belongs to another caller"
	wantCalls := []row{
		{"alice", audit.ActionA2AMessage, audit.OK, taskID, "message/send", "", ""},
		{"bob", "a2a.call", audit.Denied, taskID, "tasks/get", "NotFound", other},
		{"bob", "a2a.call", audit.Denied, taskID, "tasks/cancel", "", other},
		{"alice", "a2a.call", audit.OK, taskID, "tasks/get", "OK", ""},
	}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("a2a records of alice and bob:\n%s\nwant:\n%s", fmt.Sprintf("%+v", calls), fmt.Sprintf("%+v", wantCalls))
	}
	res, err := audit.Verify(context.Background(), st, 100)
	if err != nil || !res.OK {
		t.Errorf("the audit chain does not verify: %+v, %v", res, err)
	}
}

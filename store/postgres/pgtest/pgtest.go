// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by PARLEY_TEST_POSTGRES_URL, dropped when the
// test ends. Without that variable tests skip, except in CI (CI set), where
// the PostgreSQL runs must execute: .ci/run starts a server and sets it.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the server the tests use.
const EnvVar = "PARLEY_TEST_POSTGRES_URL"

// BaseURL is the test server's URL; it skips the test (fails it in CI) when
// there is none.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(EnvVar + " is not set in CI; .ci/run starts a server and sets it")
		}
		t.Skip(EnvVar + " not set; run .ci/run or point it at a PostgreSQL database")
	}
	return u
}

// NewSchema creates an empty schema for the test and returns a connection
// URL whose search_path is that schema. Every instance opened on the URL
// shares it, as replicas of one deployment would.
func NewSchema(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, base, sql string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("connect to %s: %v", EnvVar, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}

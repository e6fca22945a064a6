package auth

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzClaimsMapping maps arbitrary JSON claims to a principal: it must
// never panic, roles are never empty or repeated, and admin follows the
// roles.
func FuzzClaimsMapping(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"sub":"a","azp":"c","scope":"x y","roles":["parley-admin","r"],"groups":"g"}`,
		`{"client_id":1,"scp":["a",2,null],"realm_access":{"roles":["r","r",""]}}`,
		`{"realm_access":"x","realm_access.roles":["dotted"],"exp":1e300}`,
		`{"roles":{"a":1},"groups":[[1]],"aud":[1,"x"],"exp":"soon"}`,
	} {
		f.Add([]byte(seed))
	}
	m := newClaimsMapping([]string{"roles", "groups", "realm_access.roles"}, []string{"parley-admin"})
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]any
		if json.Unmarshal(data, &claims) != nil {
			return
		}
		p := m.principal(claims)
		seen := map[string]bool{}
		for _, r := range p.Roles {
			if r == "" || seen[r] {
				t.Fatalf("roles %q: empty or repeated", p.Roles)
			}
			seen[r] = true
		}
		if p.Admin != slices.Contains(p.Roles, "parley-admin") {
			t.Fatalf("admin %v with roles %q", p.Admin, p.Roles)
		}
		_ = p.Name()
	})
}

// FuzzGlob compares glob with a regular expression built from the pattern.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{{"get_*", "get_ticket"}, {"*", ""}, {"a*b*c", "abc"}, {"a*b*c", "abcbc"}, {"*x*", "yyy"}, {"eu-*", "eu-"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`^(?s:` + strings.Join(parts, ".*") + `)$`)
		if err != nil {
			return
		}
		if got, want := glob(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("glob(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}

// FuzzBearerToken: the fast path for the usual header reads what the
// general one (strings.Fields, as go-sdk's middleware splits it) does.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def-ghi_jkl", "bearer x", "BEARER  x", "Bearer x y", "Bearer\tx", "Basic abc", "Bearer ", "Bearer x\u00a0", "Bearerx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, err := bearerToken(header)
		var want string
		var wantErr bool
		if fields := strings.Fields(header); len(fields) == 2 && strings.EqualFold(fields[0], "bearer") {
			want = fields[1]
		} else {
			wantErr = true
		}
		if got != want || (err != nil) != wantErr {
			t.Fatalf("bearerToken(%q) = %q, %v; want %q, error %v", header, got, err, want, wantErr)
		}
	})
}

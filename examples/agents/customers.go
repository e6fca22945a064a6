package agents

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Customer is what the agents know of a customer.
type Customer struct {
	Name          string  `json:"name"`
	TenureYears   int     `json:"tenure_years"`
	LifetimeValue float64 `json:"lifetime_value"`
}

// Customer tiers.
const (
	TierHigh     = "high-value"
	TierStandard = "standard"
	TierNew      = "new"
)

// Tier is high-value (5+ years or 10,000+ lifetime value), new (under a
// year and under 1,000) or standard.
func (c Customer) Tier() string {
	switch {
	case c.TenureYears >= 5 || c.LifetimeValue >= 10000:
		return TierHigh
	case c.TenureYears < 1 && c.LifetimeValue < 1000:
		return TierNew
	}
	return TierStandard
}

// Profile is the customer in a few words: "6-year customer, 12k lifetime
// value".
func (c Customer) Profile() string {
	tenure := "new customer"
	switch {
	case c.TenureYears == 1:
		tenure = "1-year customer"
	case c.TenureYears > 1:
		tenure = fmt.Sprintf("%d-year customer", c.TenureYears)
	}
	return tenure + ", " + thousands(c.LifetimeValue) + " lifetime value"
}

// thousands writes 12000 as 12k, 12500 as 12.5k, 800 as 800.
func thousands(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(float64(int64(v/100))/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Customers is the built-in customer table, keyed by lower-case name.
// "acme" is the demo ticket's customer.
var Customers = map[string]Customer{
	"acme":     {Name: "acme", TenureYears: 6, LifetimeValue: 12000},
	"globex":   {Name: "globex", TenureYears: 2, LifetimeValue: 3400},
	"initech":  {Name: "initech", TenureYears: 0, LifetimeValue: 250},
	"umbrella": {Name: "umbrella", TenureYears: 9, LifetimeValue: 48000},
	"hooli":    {Name: "hooli", TenureYears: 3, LifetimeValue: 8000},
	"stark":    {Name: "stark", TenureYears: 1, LifetimeValue: 15500},
}

// LookupCustomer finds a customer in the built-in table; a name not in it
// gets a profile derived from a hash of the name (0 to 7 years, 500 to
// 24,250 lifetime value), the same every time.
func LookupCustomer(name string) Customer { return lookupCustomer(nil, name) }

func lookupCustomer(extra map[string]Customer, name string) Customer {
	key := strings.ToLower(strings.TrimSpace(name))
	if c, ok := extra[key]; ok {
		return c
	}
	if c, ok := Customers[key]; ok {
		return c
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	sum := h.Sum64()
	return Customer{Name: name, TenureYears: int(sum % 8), LifetimeValue: float64(500 + (sum>>8)%96*250)}
}

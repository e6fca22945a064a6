package agents_test

import (
	"strings"
	"testing"

	"github.com/parleyhq/parley/examples/agents"
)

func TestAssess(t *testing.T) {
	tests := []struct {
		text                          string
		refund                        float64
		category, priority, sentiment string
		refundOut                     float64
	}{
		{"I was charged twice for my subscription", 0, "billing", "high", "neutral", 0},
		{"Please refund $1,250.00 for the broken order, this is unacceptable", 0, "billing", "urgent", "negative", 1250},
		{"Refund of 45 for the late fee please, thanks!", 0, "billing", "medium", "positive", 45},
		{"invoice question", 500, "billing", "high", "neutral", 500},
		{"How do I change the plan on my invoice?", 0, "billing", "low", "neutral", 0},
		{"The app crashes with an error on startup", 0, "technical", "medium", "neutral", 0},
		{"URGENT: outage, the API is down... I mean it went down", 0, "technical", "urgent", "neutral", 0},
		{"I am locked out of my account and cannot reset the password, so frustrating", 0, "account", "high", "negative", 0},
		{"Love the product, great work team", 0, "other", "low", "positive", 0},
		{"", 0, "other", "low", "neutral", 0},
		{"feedback about the fees page", 0, "billing", "medium", "neutral", 0},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			r := agents.Assess("T-1", tc.text, tc.refund)
			if r.Category != tc.category || r.Priority != tc.priority || r.Sentiment != tc.sentiment || r.RefundAmount != tc.refundOut {
				t.Errorf("got %s/%s/%s refund %.2f, want %s/%s/%s %.2f (%s)", r.Category, r.Priority, r.Sentiment, r.RefundAmount,
					tc.category, tc.priority, tc.sentiment, tc.refundOut, r.Rationale)
			}
			if !strings.Contains(r.Rationale, "category "+r.Category) || !strings.Contains(r.Rationale, "priority "+r.Priority) ||
				!strings.Contains(r.Text(), "T-1") {
				t.Errorf("rationale %q text %q", r.Rationale, r.Text())
			}
		})
	}
}

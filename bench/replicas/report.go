package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	dur := "duration " + r.Duration
	if r.Requests > 0 {
		dur = fmt.Sprintf("%d calls per slice", r.Requests)
	}
	if len(r.Slices) > 0 {
		fmt.Fprintf(w, "replicas: session-mode (2025-11-25) get_ticket, %d clients, %s in %d rounds, warm-up %s per slice\n",
			r.Clients, dur, r.Rounds, r.Warmup)
	} else {
		fmt.Fprintln(w, "replicas: no get_ticket slices (-load=false)")
	}
	fmt.Fprintf(w, "store %s, %d tickets; gateways a %s, b %s; nginx %s, keepalive to the gateways %d\n",
		r.Store, r.Tickets, r.Replicas[0], r.Replicas[1], r.Nginx, r.Keepalive)
	fmt.Fprintf(w, "%s %s, %d CPUs (GOMAXPROCS %d), %s", r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "; load average %s before, %s after", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	if len(r.Slices) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "slice\tcalls\terrors\treq/s\tp50 ms\tp99 ms\tgateways µs/call\tper replica: calls, µs/call (sessions opened)\tnginx µs/call\tclients µs/call\t")
		for _, s := range r.Slices {
			var per []string
			for _, p := range s.PerReplica {
				if p.Calls == 0 && s.Seconds > 0 {
					// The replica the slice leaves idle: its background.
					per = append(per, fmt.Sprintf("%s idle, %.1f%% of a CPU", p.Replica, 100*p.CPUSeconds/s.Seconds))
					continue
				}
				per = append(per, fmt.Sprintf("%s %d, %.0f (opened %d)", p.Replica, p.Calls, p.CPUPerCallUs, p.Opened))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%s\t%.0f\t%.0f\t\n", s.Name, s.Calls, s.Errors, s.RPS, s.P50Ms, s.P99Ms,
				s.GatewayCPUPerCallUs, strings.Join(per, "; "), s.BalancerCPUPerCallUs, s.ClientCPUPerCallUs)
		}
		tw.Flush()
		for _, s := range r.Slices {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, s.Description)
			if s.FirstError != "" {
				fmt.Fprintf(w, "    first error: %s\n", s.FirstError)
			}
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		for _, q := range r.Ratios {
			fmt.Fprintf(w, "%s: %.2f (%.0f vs %.0f µs)", q.What, q.Ratio, q.Of, q.Over)
			if q.Target > 0 {
				verdict := "met"
				if q.Ratio > q.Target {
					verdict = "missed"
				}
				fmt.Fprintf(w, "; target ≤ %.1f: %s", q.Target, verdict)
			}
			fmt.Fprintln(w)
		}
	}
	if b := r.Rebuilds; b != nil {
		fmt.Fprintf(w, "\n%d sessions opened on a, then a ping of each on b, twice (%d errors): b's CPU %.0f µs a session for the first (rebuild + ping), %.0f for the second: the rebuild %.0f µs; p50 %.2f ms and %.2f ms\n",
			b.Sessions, b.Errors, b.FirstUs, b.LaterUs, b.RebuildUs, b.FirstP50Ms, b.LaterP50Ms)
		if b.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", b.FirstError)
		}
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(w, "\nidle sessions opened through nginx over a and b: %d in %.1f s (%d requests), %d errors\n",
			i.Sessions, i.Seconds, i.Requests, i.Errors)
		if i.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", i.FirstError)
		}
		for _, p := range i.PerReplica {
			verdict := "under"
			if p.RSSAfterMiB >= i.TargetRSSMiB {
				verdict = "NOT under"
			}
			fmt.Fprintf(w, "  %s: opened %d, holds all %d; RSS %.0f → %.0f MiB (%.1f KiB a session held; %s %.0f MiB); CPU %.0f µs a session\n",
				p.Replica, p.Opened, i.Sessions, p.RSSBeforeMiB, p.RSSAfterMiB, p.KiBPerSession, verdict, i.TargetRSSMiB, p.CPUPerSessionUs)
		}
	}
}

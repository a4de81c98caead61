package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness/policy"
	"github.com/tabularium/tabula/witness/submit"
)

// witnessManager reads --witness-policy and returns the manager of the
// server's witness submitters, nil when no policy is given.
func witnessManager(c *serveConfig, store storage.LogSet, sets []*logset.Set, reg prometheus.Registerer, logger *slog.Logger) (*submit.Manager, error) {
	if c.WitnessWait < 0 || c.WitnessWaitMax < 0 || c.WitnessTimeout < 0 || c.WitnessMinInterval < 0 {
		return nil, fmt.Errorf("--witness-wait, --witness-wait-max, --witness-timeout and --witness-min-interval must not be negative")
	}
	if c.WitnessWait > c.WitnessWaitMax {
		return nil, fmt.Errorf("--witness-wait %v exceeds --witness-wait-max %v", c.WitnessWait, c.WitnessWaitMax)
	}
	if c.WitnessPolicy == "" {
		return nil, nil
	}
	var policies []*policy.Policy
	for f := range strings.SplitSeq(c.WitnessPolicy, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--witness-policy: %w", err)
		}
		p, err := policy.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("--witness-policy %s: %w", f, err)
		}
		if !hasWitnessURL(p) {
			logger.Warn("witness policy names no witness URL: nothing is submitted for its logs", "file", f)
		}
		policies = append(policies, p)
	}
	if len(policies) == 0 {
		return nil, nil
	}
	host, _ := os.Hostname()
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	return submit.NewManager(submit.ManagerConfig{
		Policies: policies,
		Sets:     sets,
		Store:    store,
		Logger:   logger,
		Submitter: submit.Config{
			Holder:      fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(nonce)),
			Timeout:     c.WitnessTimeout,
			MinInterval: c.WitnessMinInterval,
			Metrics:     submit.NewMetrics(reg),
		},
	})
}

func hasWitnessURL(p *policy.Policy) bool {
	for _, w := range p.Witnesses {
		if w.URL != "" {
			return true
		}
	}
	return false
}

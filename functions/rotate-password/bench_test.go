package main

import (
	"fmt"
	"testing"
	"time"

	"chpass/shared/logtest"
)

// BenchmarkRotation measures one full rotation against slapd through the vendors' SDKs and the
// fake services: Secrets Manager's four steps (as the service calls them), and the KMS timer's
// whole run. The account and secret are made outside the timing. It reports ms/rotation.
func BenchmarkRotation(b *testing.B) {
	env, dir := slapdB(b)
	for _, c := range cloudsB(b) {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				u := env.FreshUsers(b, 1, "")[0]
				secret, _ := c.create(fmt.Sprintf(`{"username":%q,"password":%q,"directory":"slapd"}`, u.Name, u.Password))
				version := c.begin(secret)
				r := rotator(c.secrets, c.stages, dir, &logtest.Buffer{})
				start := time.Now()
				if err := c.run(r, secret, version); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				c.end(secret, version)
			}
			b.ReportMetric(float64(total)/float64(b.N)/1e6, "ms/rotation")
		})
	}
}

package config

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// benchConfig is a configuration as functions/local/demo.yaml writes one: seeded
// users, self-service and admin keys, tokens, clusters (one with a policy of its
// own), a tasks key and a rotation block.
const benchConfig = `
log_level: info
store:
  path: /tmp/chpass-bench.db
  max_failures: 5
  lockout: 15m
policy:
  minimum_password_length: 8
  maximum_password_length: 30
  password_char_combination: 3
  password_reuse_prevention: 3
self_service:
  directory: embedded
users:
  - {name: alice, password: "Alice-Old-Pass1!"}
  - {name: bob, password: "Bob-Old-Pass1!"}
  - {name: user1, password: "User1-Old-Pass!"}
  - {name: user2, password: "User2-Old-Pass!"}
access_keys:
  - id: HWAKDEMOALICE
    secret: demo-secret-alice-0123456789
    user: alice
  - id: LTAIexampleKEY
    secret: exampleSecret0123456789
    actions: [ModifyUserPasswords, ListUsers, ListTasks, ListClusters]
    clusters: ["*"]
  - id: AKIAIOSFODNN7EXAMPLE
    secret: demo-secret-gateway-0123456789
    actions: [ModifyUserPasswords, ListUsers, ListTasks, ListClusters]
    clusters: [ehpc-demo]
tokens:
  issuer: https://idp.chpass.demo
  user_claim: sub
  hs256_secret: demo-jwt-secret-not-for-production-0123456789
gateway:
  trust: true
  user_claim: username
clusters:
  ehpc-demo:
    directory: embedded
    status: running
  ehpc-strict:
    directory: embedded
    status: running
    policy:
      minimum_password_length: 12
  ehpc-stopped:
    directory: embedded
    status: stopped
batch:
  concurrency: 8
tasks:
  key: ZGVtby10YXNrLWtleS0zMi1ieXRlcy1sb25nLi4uLi4=
rotation:
  key: ZGVtby1yb3RhdGlvbi1rZXktMzItYnl0ZXMtbG9uZy4=
  secrets: [local-app-db]
`

// BenchmarkParse measures what a function's start spends on its configuration:
// Parse of a demo-sized file (YAML decoding, validation, references), with a
// validator built anew each time, as each process builds its own. Its
// allocations are the heap a cold start touches for it.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		configValidator = sync.OnceValue(newValidator)
		if _, err := Parse(context.Background(), strings.NewReader(benchConfig)); err != nil {
			b.Fatal(err)
		}
	}
}

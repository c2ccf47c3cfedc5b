// Package gateway carries what the platform proved about a request, taken from the
// platform's own event, from the platform adapters to the API surfaces.
//
// Only platform adapters call With; they fill it from the invocation event that the
// cloud delivered, never from a request header. A request served locally over HTTP
// carries Info with no Authorizer, whatever its headers say.
package gateway

import "context"

// Platforms, as reported in Info.Platform and in logs.
const (
	Lambda = "lambda"
	FC     = "fc"
	Local  = "local"
)

// Authorizer is what an API gateway's authorizer proved about the caller.
type Authorizer struct {
	// Kind names the authorizer: "jwt" (HTTP API JWT authorizer), "iam" (AWS_IAM on
	// HTTP API, REST API or a Function URL), "lambda" (a Lambda authorizer),
	// "cognito" (a REST API Cognito authorizer), or "fc-jwt" (Function Compute JWT).
	Kind string
	// Principal is the IAM principal ARN or user id when Kind is "iam"; otherwise "".
	Principal string
	// AccessKey is the caller's access key id when Kind is "iam"; otherwise "".
	AccessKey string
	// Claims holds the authorizer's claims or context, flattened to strings.
	Claims map[string]string
}

// Info is what the platform knows of one invocation.
type Info struct {
	Platform   string      // Lambda, FC or Local
	RequestID  string      // the platform's request id, or one made locally
	Authorizer *Authorizer // nil unless the platform event carried one
}

type key struct{}

// With returns ctx carrying info. Only platform adapters call it.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the Info that a platform adapter put in ctx, if any.
func From(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(key{}).(Info)
	return info, ok
}

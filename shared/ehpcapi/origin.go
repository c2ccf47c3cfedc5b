package ehpcapi

import (
	"context"

	"chpass/shared/password"
)

// origin returns ctx carrying, for the change events of c's resets, who asked
// and how they were proven: an RPC v1 signature by an access key, or an API
// gateway's IAM authorizer. taskID is "" for a synchronous batch.
func (c *call) origin(ctx context.Context, taskID string) context.Context {
	o := password.Origin{RequestID: c.requestID, TaskID: taskID, Caller: c.keyID, Auth: "rpc-v1",
		Platform: c.platform, Cluster: c.cluster}
	if c.principal != "" {
		o.Caller, o.Auth = c.principal, "gateway:iam"
	}
	return password.WithOrigin(ctx, o)
}

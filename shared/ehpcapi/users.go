package ehpcapi

import (
	"context"
	"time"
)

type userInfo struct {
	Name    string `json:"Name"`
	Group   string `json:"Group"`
	UserID  string `json:"UserId"`
	GroupID string `json:"GroupId"`
	AddTime string `json:"AddTime"`
}

type listUsersResponse struct {
	RequestID  string `json:"RequestId"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
	TotalCount int    `json:"TotalCount"`
	Users      struct {
		UserInfo []userInfo `json:"UserInfo"`
	} `json:"Users"`
}

func (h *Handler) listUsers(ctx context.Context, c *call, key AccessKey, params map[string]string) (any, *apiError) {
	if c.cluster == "" {
		return nil, errf(CodeMissingParameter, "ClusterId")
	}
	if err := authorize(key, c.action, c.cluster); err != nil {
		return nil, err
	}
	page, err := parseInt(params, "PageNumber", 1, 1, 1_000_000)
	if err != nil {
		return nil, err
	}
	size, err := parseInt(params, "PageSize", 10, 1, 50)
	if err != nil {
		return nil, err
	}
	cl, err := h.cluster(c.cluster)
	if err != nil {
		return nil, err
	}
	if cl.Service == nil {
		return nil, errf(CodeDomainNotExist, cl.Domain)
	}
	if cl.Users == nil {
		return nil, &apiError{Code: CodeGetentPasswdFailure, Name: cl.Domain, Recommend: "This cluster's directory does not support listing users."}
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	users, total, lerr := cl.Users.ListUsers(ctx, (page-1)*size, size)
	if lerr != nil {
		h.log.Error().Err(lerr).Str("request_id", c.requestID).Str("cluster", c.cluster).Msg("listing users failed")
		return nil, errf(CodeGetentPasswdFailure, cl.Domain)
	}
	out := listUsersResponse{RequestID: c.requestID, PageNumber: page, PageSize: size, TotalCount: total}
	out.Users.UserInfo = make([]userInfo, 0, len(users))
	for _, u := range users {
		ui := userInfo{Name: u.Name, Group: u.Group, UserID: u.ID, GroupID: u.GroupID}
		if !u.Created.IsZero() {
			ui.AddTime = u.Created.UTC().Format(time.RFC3339)
		}
		out.Users.UserInfo = append(out.Users.UserInfo, ui)
	}
	return out, nil
}

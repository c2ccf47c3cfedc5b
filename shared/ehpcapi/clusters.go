package ehpcapi

import (
	"slices"
)

// clusterInfo is one cluster as ListClusters answers it: the fields of the
// vendor's ClusterInfoSimple that chpass knows truthfully. The others (name,
// region, nodes, images, resources) are left out, not invented.
type clusterInfo struct {
	ID          string `json:"Id"`
	Status      string `json:"Status"`
	AccountType string `json:"AccountType,omitempty"`
}

type listClustersResponse struct {
	RequestID  string `json:"RequestId"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
	TotalCount int    `json:"TotalCount"`
	Clusters   struct {
		ClusterInfoSimple []clusterInfo `json:"ClusterInfoSimple"`
	} `json:"Clusters"`
}

// listClusters answers the configured clusters the key may see, in the order of
// their ids, a page at a time: the ClusterId that ModifyUserPasswords needs.
// A key without the ListClusters action is NotAuthorized; one limited to some
// clusters sees only those.
func (h *Handler) listClusters(c *call, key AccessKey, params map[string]string) (any, *apiError) {
	if !key.mayAction(c.action) {
		return nil, errf(CodeNotAuthorized, "")
	}
	page, err := parseInt(params, "PageNumber", 1, 1, 1_000_000)
	if err != nil {
		return nil, err
	}
	size, err := parseInt(params, "PageSize", 10, 1, 50)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(h.opts.Clusters))
	for id := range h.opts.Clusters {
		if key.may(c.action, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := listClustersResponse{RequestID: c.requestID, PageNumber: page, PageSize: size, TotalCount: len(ids)}
	out.Clusters.ClusterInfoSimple = []clusterInfo{}
	start := min((page-1)*size, len(ids))
	for _, id := range ids[start:min(start+size, len(ids))] {
		cl := h.opts.Clusters[id]
		out.Clusters.ClusterInfoSimple = append(out.Clusters.ClusterInfoSimple, clusterInfo{ID: id, Status: cl.Status, AccountType: cl.AccountType})
	}
	return out, nil
}
